// `pnpm berth net up|check|down` against Debian's CNI plugins, in a namespace and on a bridge this test creates.
import { execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stack, uniqueName } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runBerth as berth } from "./berth-cli.js";

const s = stack();

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
  } catch {
    // already gone
  }
}

describe.skipIf(!s)("pnpm berth net", () => {
  let dir: string;
  let ns: string;
  let bridge: string;
  let prefix: string;
  let conf: string;
  const id = `cli-${randomBytes(3).toString("hex")}`;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-cli-net-"));
    ns = uniqueName("net");
    bridge = `bt${randomBytes(4).toString("hex")}`;
    prefix = `10.222.${randomInt(1, 255)}`;
    execFileSync("ip", ["netns", "add", ns]);
    conf = join(dir, "10-berth.conflist");
    writeFileSync(
      conf,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "berth-cli",
        plugins: [
          {
            type: "bridge",
            bridge,
            isGateway: true,
            ipam: { type: "host-local", ranges: [[{ subnet: `${prefix}.0/24` }]], dataDir: join(dir, "ipam") },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      }),
    );
  });

  afterEach(async () => {
    await berth([
      "net",
      "down",
      conf,
      "--id",
      id,
      "--netns",
      ns,
      "--cni-path",
      s?.cniPath ?? "",
      "--cache-dir",
      join(dir, "cache"),
    ]);
    quiet("ip", ["netns", "del", ns]);
    quiet("ip", ["link", "del", bridge]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("up prints the result, check passes, down removes the interface and the cache file", async () => {
    const common = ["--id", id, "--cni-path", s?.cniPath ?? "", "--cache-dir", join(dir, "cache")];
    const up = await berth([
      "net",
      "up",
      conf,
      "--netns",
      ns,
      ...common,
      "--cap",
      `portMappings=[{"hostPort":${randomInt(20_000, 30_000)},"containerPort":80,"protocol":"tcp"}]`,
    ]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    const result = JSON.parse(up.stdout) as { cniVersion: string; ips: Array<{ address: string }> };
    expect(result.cniVersion).toBe("1.0.0");
    expect(result.ips[0]?.address).toBe(`${prefix}.2/24`);
    const addr = execFileSync("ip", ["-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"], { encoding: "utf8" });
    expect(addr).toContain(`${prefix}.2/24`);
    expect(readdirSync(join(dir, "cache", "results"))).toEqual([`berth-cli-${id}-eth0`]);

    // Debian's portmap 1.1.1 cannot CHECK IPv4-only containers; CHECK the bridge alone via a .conf file.
    const single = join(dir, "bridge.conf");
    const ipam = { type: "host-local", ranges: [[{ subnet: `${prefix}.0/24` }]], dataDir: join(dir, "ipam") };
    writeFileSync(single, JSON.stringify({ cniVersion: "1.0.0", name: "berth-cli", type: "bridge", bridge, ipam }));
    const check = await berth(["net", "check", single, "--netns", ns, ...common]);
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);

    const down = await berth(["net", "down", conf, "--netns", `/var/run/netns/${ns}`, ...common]);
    expect(down.code).toBe(0);
    expect(existsSync(join(dir, "cache", "results", `berth-cli-${id}-eth0`))).toBe(false);
    expect(() => execFileSync("ip", ["-n", ns, "link", "show", "eth0"], { stdio: "ignore" })).toThrow();
  });

  it("--no-launcher spawns the plugins directly: up and down work the same", async () => {
    const common = ["--id", id, "--cni-path", s?.cniPath ?? "", "--cache-dir", join(dir, "cache"), "--no-launcher"];
    const up = await berth(["net", "up", conf, "--netns", ns, ...common]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect((JSON.parse(up.stdout) as { ips: Array<{ address: string }> }).ips[0]?.address).toBe(`${prefix}.2/24`);
    const down = await berth(["net", "down", conf, "--netns", ns, ...common]);
    expect(down.code).toBe(0);
    expect(() => execFileSync("ip", ["-n", ns, "link", "show", "eth0"], { stdio: "ignore" })).toThrow();
  });

  it("fails with the plugin's tagged error, and exits 2 on bad usage", async () => {
    const missing = await berth(["net", "up", conf, "--netns", ns, "--id", id, "--cni-path", "/nonexistent/cni"]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: "PluginNotFound", plugin: "bridge" } });
    expect(missing.stderr).toContain("/nonexistent/cni");
    const usage = await berth(["net", "sideways", conf, "--id", id]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("usage: pnpm berth net");
  });
});
