// `pnpm berth version`, the README's main-job command today, against both daemons of the stack.
import { stack } from "@berth/testkit";
import { describe, expect, it } from "vitest";
import { runBerth as berth } from "./berth-cli.js";

const s = stack();

describe.skipIf(!s).each(s?.daemons ?? [])("pnpm berth version on $name", (daemon) => {
  it("prints berth's version and the server's", async () => {
    const json = await berth(["version", "--address", daemon.address, "--json"]);
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { berth: string; containerd: { version: string } };
    expect(out.berth).toMatch(/^\d+\.\d+\.\d+/);
    // The stack records the release (e.g. 1.6.20); the daemon reports its full build string (1.6.20~ds1).
    expect(out.containerd.version.replace(/^v/, "").startsWith(daemon.version.replace(/^v/, ""))).toBe(true);
    const text = await berth(["version", "--address", daemon.address]);
    expect(text.stdout).toContain(`containerd  ${out.containerd.version}`);
  });
});

describe.skipIf(!s)("pnpm berth version errors", () => {
  it("exits 1 with a clear message when the socket is missing", async () => {
    const r = await berth(["version", "--address", "/nonexistent/containerd.sock"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no containerd socket at /nonexistent/containerd.sock");
  });
  it("exits 2 on bad usage", async () => {
    const r = await berth(["version", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("usage: pnpm berth version");
  });
});
