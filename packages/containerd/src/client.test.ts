// Transport-level tests against a real in-process gRPC server on a temp unix socket (no containerd needed).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createContainerd } from "./client.js";
import { type VersionResponse, VersionService } from "./gen/containerd/services/version/v1/version.js";

let dir: string;
const servers: Server[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-ctd-"));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(
  name: string,
  version?: (call: ServerUnaryCall<unknown, VersionResponse>, cb: sendUnaryData<VersionResponse>) => void,
): Promise<string> {
  const server = new Server();
  if (version) server.addService(VersionService, { version });
  const path = join(dir, `${name}.sock`);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
  servers.push(server);
  return path;
}

describe("Containerd over a real gRPC server", () => {
  it("calls Version with the namespace header and parses the semver", async () => {
    let seenNamespace: unknown;
    const path = await serve("ok", (call, cb) => {
      seenNamespace = call.metadata.get("containerd-namespace")[0];
      cb(null, { version: "v2.1.9", revision: "abc123" });
    });
    await using client = createContainerd({ address: `unix://${path}`, namespace: "berth-test" })._unsafeUnwrap();
    const v = (await client.version())._unsafeUnwrap();
    expect(v).toEqual({ version: "v2.1.9", revision: "abc123", semver: { major: 2, minor: 1, patch: 9 } });
    expect(seenNamespace).toBe("berth-test");
    const other = client.withNamespace("other")._unsafeUnwrap();
    await other.version({ lease: "l1" });
    expect(seenNamespace).toBe("other");
  });

  it("says the socket is missing and how to fix it", async () => {
    await using client = createContainerd({ address: join(dir, "absent.sock") })._unsafeUnwrap();
    const e = (await client.version())._unsafeUnwrapErr();
    expect(e.code).toBe("Unavailable");
    expect(e.message).toContain("no containerd socket at");
    expect(e.message).toContain("CONTAINERD_ADDRESS");
    expect(e.retryable).toBe(true);
  });

  it("says a regular file is not a socket", async () => {
    const file = join(dir, "plain-file");
    writeFileSync(file, "");
    await using client = createContainerd({ address: file })._unsafeUnwrap();
    const e = (await client.version())._unsafeUnwrapErr();
    expect(e.code).toBe("Unavailable");
    expect(e.message).toContain("is not a unix socket");
  });

  it("reports a gRPC server that is not containerd as Unimplemented", async () => {
    const path = await serve("not-containerd");
    await using client = createContainerd({ address: path })._unsafeUnwrap();
    const e = (await client.version())._unsafeUnwrapErr();
    expect(e.code).toBe("Unimplemented");
    expect(e.grpcCode).toBe(12);
  });

  it("honours AbortSignal and deadlines", async () => {
    const path = await serve("slow", () => {
      /* never answers */
    });
    await using client = createContainerd({ address: path })._unsafeUnwrap();
    const ac = new AbortController();
    const pending = client.version({ signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    expect((await pending)._unsafeUnwrapErr().code).toBe("Canceled");
    expect((await client.version({ signal: AbortSignal.abort() }))._unsafeUnwrapErr().code).toBe("Canceled");
    const late = (await client.version({ timeoutMs: 50 }))._unsafeUnwrapErr();
    expect(late.code).toBe("DeadlineExceeded");
    expect(late.message).toContain("50 ms");
  });

  it("fails calls on a closed client, and close is idempotent", async () => {
    const path = await serve("closed", (_c, cb) => cb(null, { version: "1.6.20", revision: "r" }));
    const client = createContainerd({ address: path })._unsafeUnwrap();
    expect((await client.version()).isOk()).toBe(true);
    await client.close();
    await client.close();
    expect((await client.version())._unsafeUnwrapErr().code).toBe("Canceled");
  });

  it("reconnects on its own when the daemon comes back on the same socket", async () => {
    const answer = (_c: unknown, cb: sendUnaryData<VersionResponse>) => cb(null, { version: "1.7.0", revision: "r" });
    const path = await serve("restart", answer);
    await using client = createContainerd({ address: path })._unsafeUnwrap();
    expect((await client.version()).isOk()).toBe(true);
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
    rmSync(path, { force: true });
    expect((await client.version())._unsafeUnwrapErr().code).toBe("Unavailable");
    await serve("restart", answer);
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = (await client.version({ timeoutMs: 2_000 })).isOk();
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    expect(ok).toBe(true);
  });

  it("rejects an invalid namespace before any call", () => {
    const e = createContainerd({ address: "/x.sock", namespace: "bad namespace" })._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidArgument");
  });
});
