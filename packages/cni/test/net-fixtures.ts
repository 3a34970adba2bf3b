// Namespaces, bridges, IPAM directories and in-namespace servers for the CNI integration tests. Everything a
// fixture creates is recorded and removed by `cleanup()`, also when a test failed halfway.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { uniqueName } from "@berth/testkit";

/** Runs a command, returning stdout; throws with stderr on failure. */
export function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, [...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs a command, ignoring failures (cleanup). */
export function tryRun(cmd: string, args: readonly string[]): void {
  try {
    execFileSync(cmd, [...args], { stdio: "ignore" });
  } catch {
    // already gone
  }
}

/** One test's private network resources. */
export class NetFixture {
  readonly dir = mkdtempSync(join(tmpdir(), "berth-cni-it-"));
  /** Private bridge name, `bt` + 8 hex digits (fits IFNAMSIZ). */
  readonly bridge = `bt${randomBytes(4).toString("hex")}`;
  /** A /24 inside 10.222.0.0/16: `${prefix}.0/24`. */
  readonly prefix = `10.222.${randomInt(1, 255)}`;
  readonly ipamDir = join(this.dir, "ipam");
  readonly cacheDir = join(this.dir, "cache");
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  get subnet(): string {
    return `${this.prefix}.0/24`;
  }

  /** Creates a network namespace (`ip netns add`); returns its name and path. */
  namespace(): { name: string; path: string } {
    const name = uniqueName("cni");
    run("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    return { name, path: `/var/run/netns/${name}` };
  }

  /** Runs `fn` at cleanup, before namespaces and the bridge go (e.g. a best-effort CNI DEL). */
  onCleanup(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /**
   * Starts `busybox httpd` inside a namespace on `ip:port`, serving a page with `token`; resolves once it
   * listens (checked from inside the namespace).
   */
  async httpServer(ns: string, ip: string, port: number, token: string): Promise<void> {
    const root = join(this.dir, `www-${port}`);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "index.html"), token);
    const child = spawn("ip", ["netns", "exec", ns, "busybox", "httpd", "-f", "-p", `${ip}:${port}`, "-h", root], {
      stdio: "ignore",
    });
    this.children.push(child);
    for (let i = 0; i < 100; i++) {
      try {
        const out = run("ip", ["netns", "exec", ns, "busybox", "netstat", "-ltn"]);
        if (out.includes(`${ip}:${port}`)) return;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`busybox httpd in ${ns} did not listen on ${ip}:${port}`);
  }

  /** Lease files host-local keeps for `network` (IP addresses), sorted. */
  leases(network: string): string[] {
    const dir = join(this.ipamDir, network);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes("."))
      .sort();
  }

  /** Removes everything: cleanup callbacks, servers, namespaces, the bridge, the temporary directory. */
  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
    for (const child of this.children.splice(0)) child.kill("SIGKILL");
    for (const ns of this.namespaces.splice(0)) tryRun("ip", ["netns", "del", ns]);
    tryRun("ip", ["link", "del", this.bridge]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An HTTP GET from the host with a short timeout; the body, or the error's text. */
export async function httpGet(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return await res.text();
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

/** Links whose master is the bridge (the host ends of the veths). */
export function bridgePorts(bridge: string): string[] {
  try {
    const out = JSON.parse(run("ip", ["-j", "link", "show", "master", bridge])) as Array<{ ifname: string }>;
    return out.map((l) => l.ifname);
  } catch {
    return [];
  }
}

/** IPv4 addresses (with prefix) on an interface inside a namespace; [] when the interface does not exist. */
export function addressesIn(ns: string, ifName: string): string[] {
  try {
    const out = JSON.parse(run("ip", ["-n", ns, "-j", "-4", "addr", "show", "dev", ifName])) as Array<{
      addr_info: Array<{ local: string; prefixlen: number }>;
    }>;
    return out.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
  } catch {
    return [];
  }
}

/** The namespace's IPv4 routes as `ip route` prints them. */
export function routesIn(ns: string): string {
  return run("ip", ["-n", ns, "-4", "route", "show"]);
}

/** `iptables -t nat -S` output (for portmap chains). */
export function natRules(): string {
  return run("iptables", ["-t", "nat", "-S"]);
}

/** `iptables -t filter -S` output (for firewall rules). */
export function filterRules(): string {
  return run("iptables", ["-t", "filter", "-S"]);
}
