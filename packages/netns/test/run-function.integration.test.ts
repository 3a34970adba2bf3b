// A JavaScript function's effect inside a namespace, through a child process (runFunctionInNetns).
import { mkdtempSync, rmSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, type Netns, runFunctionInNetns } from "../src/index.js";
import { removeAndCheck } from "./helpers.js";

const s = stack();

describe.skipIf(!s)("runFunctionInNetns", () => {
  let stateDir: string;
  let ns: Netns;
  const dir = "/run/netns";

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "berth-netns-fn-"));
    ns = (await createNetns(uniqueName("fn"), { stateDir, loopbackUp: true }))._unsafeUnwrap();
  });
  afterAll(async () => {
    await removeAndCheck([ns.name], dir, stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("sees the namespace's interfaces, not the host's, and returns JSON results", async () => {
    const inside = await runFunctionInNetns(
      ns.name,
      (prefix: string) => {
        console.log("this goes to stderr, not into the result");
        return Object.keys(require("node:os").networkInterfaces()).map((n: string) => `${prefix}${n}`);
      },
      ["if:"],
    );
    expect(inside._unsafeUnwrap()).toEqual(["if:lo"]);
    expect(Object.keys(networkInterfaces()).length).toBeGreaterThan(1);
  });

  it("awaits promises and binds sockets inside the namespace", async () => {
    const port = await runFunctionInNetns(
      ns.path,
      () =>
        new Promise<number>((resolve) => {
          const server = require("node:net").createServer();
          server.listen(0, "127.0.0.1", () => {
            const p = server.address().port;
            server.close(() => resolve(p));
          });
        }),
      [],
    );
    expect(port._unsafeUnwrap()).toBeGreaterThan(0);
  });

  it("reports a throw as Failed with its message, and a missing namespace as NotFound", async () => {
    const failed = await runFunctionInNetns(ns.name, () => {
      throw new Error("boom inside");
    }, []);
    expect(failed._unsafeUnwrapErr().code).toBe("Failed");
    expect(failed._unsafeUnwrapErr().message).toContain("boom inside");
    const missing = await runFunctionInNetns(uniqueName("absent"), () => 1, []);
    expect(missing._unsafeUnwrapErr().code).toBe("NotFound");
  });
});
