// The Version service of the real containerd daemons the stack runs (1.6 and 2.1), and the
// peer's view of the same daemon (`ctr version`) for cross-checking.
import { execFileSync } from "node:child_process";
import { stack } from "@berth/testkit";
import { describe, expect, it } from "vitest";
import { createContainerd } from "../src/index.js";

const s = stack();

describe.skipIf(!s).each(s?.daemons ?? [])("containerd Version on $name", (daemon) => {
  it("reports the same version as ctr", async () => {
    await using client = createContainerd({ address: daemon.address, timeoutMs: 10_000 })._unsafeUnwrap();
    const v = (await client.version())._unsafeUnwrap();
    const ctr = execFileSync(daemon.ctr, ["--address", daemon.address, "version"], { encoding: "utf8" });
    const serverPart = ctr.slice(ctr.indexOf("Server:"));
    const field = (name: string) => new RegExp(`^\\s*${name}:[ \\t]*(.*)$`, "m").exec(serverPart)?.[1]?.trim();
    expect(field("Version")).toBe(v.version);
    expect(field("Revision")).toBe(v.revision);
    expect(v.semver?.major).toBe(daemon.name === "containerd-2.1" ? 2 : 1);
  });

  it("works over the unix:// form and for many concurrent calls on one connection", async () => {
    await using client = createContainerd({ address: `unix://${daemon.address}` })._unsafeUnwrap();
    const all = await Promise.all(Array.from({ length: 50 }, () => client.version()));
    expect(all.every((r) => r.isOk())).toBe(true);
  });
});
