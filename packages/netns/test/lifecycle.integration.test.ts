// Creating, entering and deleting real network namespaces (root, real kernel), checked against iproute2.
// Every test registers what it creates before creating it; afterEach deletes it (forced) and proves that no file,
// no nsfs mount in /proc/self/mountinfo and no owner marker is left, also when the test failed.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createNetns,
  DEFAULT_NETNS_DIR,
  deleteNetns,
  execInNetns,
  findTool,
  formatNetnsIdentity,
  listNetns,
  type Netns,
  openNetns,
  spawnInNetns,
} from "../src/index.js";
import { markerPath, readMarker } from "../src/owner.js";
import { entries, mountsOn, nsfsMountsOn, removeAndCheck, run } from "./helpers.js";

const s = stack();

describe.skipIf(!s)("network namespaces made by berth", () => {
  const dir = DEFAULT_NETNS_DIR;
  let stateDir: string;
  let ip: string;
  const names: string[] = [];
  const etcDirs: string[] = [];

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "berth-netns-state-"));
    ip = (await findTool("ip"))._unsafeUnwrap();
  });
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
  afterEach(async () => {
    await removeAndCheck(names.splice(0), dir, stateDir);
    for (const etc of etcDirs.splice(0)) {
      expect(existsSync(etc), `${etc} left behind`).toBe(false);
      rmSync(etc, { recursive: true, force: true });
    }
  });

  /** A unique name, registered for clean-up. Short enough for interface-free use; names are file names. */
  function fresh(): string {
    const name = uniqueName("netns");
    names.push(name);
    return name;
  }

  async function create(options: Parameters<typeof createNetns>[1] = {}): Promise<Netns> {
    return (await createNetns(fresh(), { stateDir, ...options }))._unsafeUnwrap();
  }

  it("creates a namespace iproute2 sees and enters, with only lo inside, and deletes it without a trace", async () => {
    const ns = await create();
    expect(ns.path).toBe(`/run/netns/${ns.name}`);
    expect(ns.createdByBerth).toBe(true);
    expect(nsfsMountsOn(ns.path)).toBe(1);
    expect((await run(ip, ["netns", "list"])).stdout).toContain(ns.name);
    const inside = await run(ip, ["netns", "exec", ns.name, "readlink", "/proc/self/ns/net"]);
    expect(inside.stdout.trim()).toBe(formatNetnsIdentity(ns.identity));
    const links = (await ns.exec(ip, ["-o", "link"]))._unsafeUnwrap();
    expect(links.exitCode).toBe(0);
    expect(links.stdout.trim().split("\n")).toHaveLength(1);
    expect(links.stdout).toMatch(/^1: lo: <LOOPBACK>/);
    const marker = await readMarker(markerPath(stateDir, dir, ns.name));
    expect(marker).toMatchObject({ state: "ready", ino: String(ns.identity.ino), owner: { pid: process.pid } });
    const listed = (await listNetns())._unsafeUnwrap().find((e) => e.name === ns.name);
    expect(listed?.stale).toBe(false);

    expect((await ns.delete())._unsafeUnwrap()).toBe(true);
    expect(existsSync(ns.path)).toBe(false);
    expect(nsfsMountsOn(ns.path)).toBe(0);
    expect((await run(ip, ["netns", "list"])).stdout).not.toContain(ns.name);
    // Idempotent: a second delete finds nothing.
    expect((await deleteNetns(ns.name, { stateDir }))._unsafeUnwrap()).toBe(false);
  });

  it("refuses a second namespace of the same name, and a namespace made by ip netns add unless forced", async () => {
    const ns = await create();
    const again = (await createNetns(ns.name, { stateDir }))._unsafeUnwrapErr();
    expect(again.code).toBe("AlreadyExists");
    expect(nsfsMountsOn(ns.path)).toBe(1);

    const theirs = fresh();
    await run(ip, ["netns", "add", theirs]);
    const opened = (await openNetns(theirs, { stateDir }))._unsafeUnwrap();
    expect(opened.createdByBerth).toBe(false);
    const links = (await opened.exec(ip, ["-o", "link"]))._unsafeUnwrap();
    expect(links.stdout).toContain("lo:");
    const refused = (await deleteNetns(theirs, { stateDir }))._unsafeUnwrapErr();
    expect(refused.code).toBe("NotOwned");
    expect(nsfsMountsOn(opened.path)).toBe(1);
    expect((await opened.delete({ force: true }))._unsafeUnwrap()).toBe(true);
    expect((await run(ip, ["netns", "list"])).stdout).not.toContain(theirs);
  });

  it("wires two namespaces with a veth pair and pings across (10.213.0.0/24, inside them only)", async () => {
    const a = await create({ loopbackUp: true });
    const b = await create({ loopbackUp: true });
    const inA = async (...args: string[]) => (await a.exec(ip, args))._unsafeUnwrap();
    const inB = async (...args: string[]) => (await b.exec(ip, args))._unsafeUnwrap();
    // The pair is made inside A with its peer sent straight to B: no interface ever appears on the host.
    expect(
      (await inA("link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b.name)).exitCode,
    ).toBe(0);
    expect((await inA("addr", "add", "10.213.0.1/24", "dev", "veth-a")).exitCode).toBe(0);
    expect((await inB("addr", "add", "10.213.0.2/24", "dev", "veth-b")).exitCode).toBe(0);
    expect((await inA("link", "set", "veth-a", "up")).exitCode).toBe(0);
    expect((await inB("link", "set", "veth-b", "up")).exitCode).toBe(0);
    const ping = (
      await a.exec("busybox", ["ping", "-c", "2", "-W", "5", "10.213.0.2"], { timeoutMs: 30_000 })
    )._unsafeUnwrap();
    expect(ping.stdout).toContain("2 packets received");
    expect(ping.exitCode).toBe(0);
    // The host does not see either end.
    expect((await run(ip, ["-o", "link"])).stdout).not.toMatch(/veth-[ab]/);
  });

  it("writes /etc/netns/NAME files that commands inside see, brings lo up, and removes them on delete", async () => {
    const name = fresh();
    const etcDir = `/etc/netns/${name}`;
    etcDirs.push(etcDir);
    const ns = (
      await createNetns(name, {
        stateDir,
        loopbackUp: true,
        etc: { resolvConf: "nameserver 10.213.9.9\n", hosts: "10.213.9.1 berth-host\n", hostname: "task-host\n" },
      })
    )._unsafeUnwrap();
    expect(readFileSync(join(etcDir, "resolv.conf"), "utf8")).toBe("nameserver 10.213.9.9\n");
    const resolv = (await ns.exec("cat", ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"]))._unsafeUnwrap();
    expect(resolv.stdout).toBe("nameserver 10.213.9.9\n10.213.9.1 berth-host\ntask-host\n");
    expect(readFileSync("/etc/resolv.conf", "utf8")).not.toContain("10.213.9.9");
    const lo = (await ns.exec(ip, ["-o", "link", "show", "lo"]))._unsafeUnwrap();
    expect(lo.stdout).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
    // The directory exists now: a second namespace of the name cannot take it over (nor be made at all).
    expect((await ns.delete())._unsafeUnwrap()).toBe(true);
    expect(existsSync(etcDir)).toBe(false);
  });

  it("fails AlreadyExists without a trace when /etc/netns/NAME is someone else's", async () => {
    const name = fresh();
    const etcDir = `/etc/netns/${name}`;
    await run("mkdir", ["-p", etcDir]);
    try {
      const e = (await createNetns(name, { stateDir, etc: { hostname: "x\n" } }))._unsafeUnwrapErr();
      expect(e.code).toBe("AlreadyExists");
      expect(e.path).toBe(etcDir);
      expect(existsSync(join(dir, name))).toBe(false);
      expect(existsSync(etcDir)).toBe(true);
    } finally {
      rmSync(etcDir, { recursive: true, force: true });
    }
  });

  it("deletes at the end of an `await using` scope", async () => {
    let path = "";
    {
      await using ns = await create();
      path = ns.path;
      expect(nsfsMountsOn(path)).toBe(1);
    }
    expect(existsSync(path)).toBe(false);
    expect(nsfsMountsOn(path)).toBe(0);
  });

  it("runs commands inside with streaming stdio, exit codes, timeouts and abort", async () => {
    const ns = await create();
    const cat = (await ns.spawn("cat"))._unsafeUnwrap();
    const chunks: Buffer[] = [];
    cat.child.stdout?.on("data", (b: Buffer) => chunks.push(b));
    cat.child.stdin?.write("hello ");
    cat.child.stdin?.end("netns\n");
    expect((await cat.exit)._unsafeUnwrap()).toEqual({ exitCode: 0, signal: null });
    expect(Buffer.concat(chunks).toString()).toBe("hello netns\n");
    expect(cat.netns.path).toBe(ns.path);

    const seven = (await ns.exec("sh", ["-c", "echo out; echo err >&2; exit 7"]))._unsafeUnwrap();
    expect(seven).toEqual({ exitCode: 7, signal: null, stdout: "out\n", stderr: "err\n" });
    const input = (await execInNetns(ns.name, "wc", ["-c"], { input: "12345" }))._unsafeUnwrap();
    expect(input.stdout.trim()).toBe("5");

    const started = Date.now();
    const slow = (await ns.exec("sleep", ["30"], { timeoutMs: 200 }))._unsafeUnwrapErr();
    expect(slow.code).toBe("Timeout");
    expect(Date.now() - started).toBeLessThan(10_000);

    const controller = new AbortController();
    const sleeper = (await spawnInNetns(ns.path, "sleep", ["30"], { signal: controller.signal }))._unsafeUnwrap();
    const pid = sleeper.child.pid;
    controller.abort();
    expect((await sleeper.exit)._unsafeUnwrapErr().code).toBe("Aborted");
    expect(pid !== undefined && existsSync(`/proc/${pid}`)).toBe(false);

    const missing = (await ns.exec("/nonexistent/binary"))._unsafeUnwrap();
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain("/nonexistent/binary");
  });

  it("makes a fresh directory a shared mount point once, also under 20 parallel creates", async () => {
    const own = mkdtempSync(join(tmpdir(), "berth-netns-dir-"));
    chmodSync(own, 0o755);
    const ownNames = Array.from({ length: 20 }, (_, i) => `ns-${i}`);
    try {
      expect(mountsOn(own)).toBe(0);
      const created = await Promise.all(ownNames.map((n) => createNetns(n, { dir: own, stateDir })));
      for (const c of created) expect(c.isOk(), c.isErr() ? c.error.message : "").toBe(true);
      // Exactly one self-bind of the directory, and it propagates as shared.
      expect(mountsOn(own)).toBe(1);
      for (const n of ownNames) expect(nsfsMountsOn(join(own, n))).toBe(1);
      const links = (await execInNetns("ns-3", ip, ["-o", "link"], { dir: own }))._unsafeUnwrap();
      expect(links.stdout).toMatch(/^1: lo:/);
    } finally {
      await removeAndCheck(ownNames, own, stateDir);
      expect(entries(own)).toEqual([]);
      await run("umount", ["--lazy", own]).catch(() => undefined);
      rmSync(own, { recursive: true, force: true });
    }
  });

  it("creates and deletes 100 namespaces in parallel: no duplicate mount, no leaked file", async () => {
    const batch = Array.from({ length: 100 }, () => fresh());
    const before = mountsOn(dir);
    const created = await Promise.all(batch.map((n) => createNetns(n, { stateDir })));
    const failures = created.filter((c) => c.isErr()).map((c) => (c.isErr() ? c.error.message : ""));
    expect(failures).toEqual([]);
    for (const n of batch) expect(nsfsMountsOn(join(dir, n)), n).toBe(1);
    expect(mountsOn(dir)).toBe(before);
    const identities = new Set(created.map((c) => (c.isOk() ? String(c.value.identity.ino) : "")));
    expect(identities.size).toBe(100);

    // Ten racing creates of one name: exactly one wins, the others see AlreadyExists, one mount.
    const contested = fresh();
    const race = await Promise.all(Array.from({ length: 10 }, () => createNetns(contested, { stateDir })));
    expect(race.filter((r) => r.isOk())).toHaveLength(1);
    expect(race.filter((r) => r.isErr() && r.error.code === "AlreadyExists")).toHaveLength(9);
    expect(nsfsMountsOn(join(dir, contested))).toBe(1);

    const deleted = await Promise.all([...batch, contested].map((n) => deleteNetns(n, { stateDir })));
    expect(deleted.every((d) => d.isOk() && d.value)).toBe(true);
    for (const n of batch) {
      expect(existsSync(join(dir, n))).toBe(false);
      expect(nsfsMountsOn(join(dir, n))).toBe(0);
    }
    expect(entries(join(stateDir, encodeURIComponent(dir)))).toEqual([]);

    // Racing deletes of one name: all succeed (idempotent), and nothing remains. Several rounds, because the
    // interesting interleavings (unmounted or unlinked by another delete mid-way) are a matter of timing.
    for (let round = 0; round < 5; round++) {
      const twice = await create();
      const deletes = await Promise.all(Array.from({ length: 5 }, () => deleteNetns(twice.name, { stateDir })));
      expect(deletes.map((d) => (d.isOk() ? "ok" : d.error.message))).toEqual(["ok", "ok", "ok", "ok", "ok"]);
      expect(deletes.some((d) => d.isOk() && d.value)).toBe(true);
      expect(existsSync(twice.path)).toBe(false);
      expect(nsfsMountsOn(twice.path)).toBe(0);
    }
  });
});
