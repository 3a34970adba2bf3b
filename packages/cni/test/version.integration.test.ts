// The VERSION command against the real CNI plugins of the stack: Debian 12's (spec <= 1.0.0, in CNI_PATH) and the
// 1.9 plugins (spec 1.1, in CNI2_PATH, when the stack provides them). Needs root, not the daemons.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stack } from "@berth/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfDir, negotiateVersion, probeVersion } from "../src/index.js";

const s = stack();
const PLUGINS = ["bridge", "host-local", "loopback", "portmap"] as const;

// The plugin's own answer, run without berth: the peer to cross-check against.
function peerVersion(path: string): { cniVersion: string; supportedVersions: string[] } {
  const out = execFileSync(path, [], { env: { CNI_COMMAND: "VERSION" }, input: '{"cniVersion":"1.1.0"}' });
  return JSON.parse(out.toString()) as { cniVersion: string; supportedVersions: string[] };
}

describe.skipIf(!s)("probeVersion on Debian's CNI plugins (spec <= 1.0.0)", () => {
  const cniPath = s?.cniPath ?? "";

  it.each(PLUGINS)("%s supports 1.0.0 but not 1.1.0", async (plugin) => {
    const info = (await probeVersion(plugin, { cniPath, timeoutMs: 10_000 }))._unsafeUnwrap();
    expect(info.path).toBe(join(cniPath, plugin));
    expect(info.supportedVersions).toContain("1.0.0");
    expect(info.supportedVersions).toContain("0.3.1");
    expect(info.supportedVersions).not.toContain("1.1.0");
    expect(info).toMatchObject(peerVersion(info.path));
  });

  it("fails with PluginNotFound listing every directory searched", async () => {
    const dirs = [cniPath, ...(s?.cni2Path ? [s.cni2Path] : []), "/nonexistent/berth-cni"];
    const e = (await probeVersion("berth-no-such-plugin", { cniPath: dirs }))._unsafeUnwrapErr();
    expect(e.code).toBe("PluginNotFound");
    expect(e.details).toBe(dirs.join(":"));
    for (const d of dirs) expect(e.message).toContain(d);
  });
});

describe.skipIf(!s?.cni2Path)("probeVersion on the CNI 1.9 plugins (spec 1.1)", () => {
  const cni2Path = s?.cni2Path ?? "";

  it.each(PLUGINS)("%s supports 1.1.0", async (plugin) => {
    const info = (await probeVersion(plugin, { cniPath: cni2Path, timeoutMs: 10_000 }))._unsafeUnwrap();
    expect(info.path).toBe(join(cni2Path, plugin));
    expect(info.supportedVersions).toContain("1.1.0");
    expect(info.supportedVersions).toContain("1.0.0");
    expect(info).toMatchObject(peerVersion(info.path));
  });

  it("finds the first directory's plugin when both directories hold it", async () => {
    const info = (await probeVersion("bridge", { cniPath: [cni2Path, s?.cniPath ?? ""] }))._unsafeUnwrap();
    expect(info.path).toBe(join(cni2Path, "bridge"));
    expect(info.supportedVersions).toContain("1.1.0");
  });
});

describe.skipIf(!s)("a configuration checked against the real plugins (libcni's ValidateNetworkList)", () => {
  let confDir: string | undefined;

  afterEach(() => {
    if (confDir) rmSync(confDir, { recursive: true, force: true });
    confDir = undefined;
  });

  it("negotiates 1.1.0 for a list offering it, which only the 1.9 plugins accept", async () => {
    confDir = mkdtempSync(join(tmpdir(), "berth-cni-it-"));
    const list = {
      cniVersion: "1.0.0",
      cniVersions: ["0.4.0", "1.0.0", "1.1.0"],
      name: "berth-it",
      plugins: [
        { type: "bridge", bridge: "berth-it0", ipam: { type: "host-local", subnet: "10.250.0.0/24" } },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    };
    writeFileSync(join(confDir, "10-berth-it.conflist"), JSON.stringify(list));
    const loaded = (await loadConfDir(confDir, { name: "berth-it" }))._unsafeUnwrap();
    const version = negotiateVersion(loaded)._unsafeUnwrap();
    expect(version).toBe("1.1.0");
    for (const plugin of loaded.plugins) {
      const debian = (await probeVersion(plugin.type, { cniPath: s?.cniPath ?? "" }))._unsafeUnwrap();
      expect(debian.supportedVersions.includes(version)).toBe(false);
      if (s?.cni2Path) {
        const modern = (await probeVersion(plugin.type, { cniPath: s.cni2Path }))._unsafeUnwrap();
        expect(modern.supportedVersions.includes(version)).toBe(true);
      }
    }
  });
});
