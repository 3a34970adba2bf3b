// The resident `ip -force -batch -` helper that createNetns/deleteNetns use for /run/netns (root, real kernel):
// one process serves every create and delete, results stay per operation under concurrency, a helper that dies
// mid-operation (before or after making the namespace, or SIGKILLed) never leaves a duplicate or a leak and the
// spawned tools take over, the helper goes away with its process, and a creator killed while the helper is making
// its namespace is swept. afterEach deletes (forced) every name a test registered and proves nothing is left.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stack, uniqueName } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createNetns,
  DEFAULT_NETNS_DIR,
  deleteNetns,
  findTool,
  NetnsError,
  stopNetnsHelper,
  sweepNetns,
} from "../src/index.js";
import { helperPids } from "../src/ip-batch.js";
import { markerPath, readMarker } from "../src/owner.js";
import { nsfsMountsOn, removeAndCheck, run, until } from "./helpers.js";

const s = stack();
const here = dirname(fileURLToPath(import.meta.url));
const tsx = join(here, "..", "..", "..", "node_modules", ".bin", "tsx");
const dir = DEFAULT_NETNS_DIR;

function alive(pid: number | undefined): boolean {
  return pid !== undefined && existsSync(`/proc/${pid}`);
}

describe.skipIf(!s)("the resident ip -batch helper", () => {
  let root: string;
  let stateDir: string;
  let ip: string;
  const names: string[] = [];
  const children: ChildProcess[] = [];
  const fresh = (): string => {
    const name = uniqueName("res");
    names.push(name);
    return name;
  };

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), "berth-netns-resident-"));
    stateDir = join(root, "state");
    ip = (await findTool("ip"))._unsafeUnwrap();
    await stopNetnsHelper();
  });

  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(-c.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await stopNetnsHelper();
    await removeAndCheck(names.splice(0), dir, stateDir);
    await stopNetnsHelper();
    expect(helperPids()).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  });

  /** A directory with a stand-in `ip` that acts as `script` in batch mode and as the real `ip` otherwise. */
  function fakeIp(script: string): string {
    const bin = join(root, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, "ip"),
      `#!/bin/sh\nif [ "$1" = "-force" ] && [ "$2" = "-batch" ]; then\n${script}\nfi\nexec ${ip} "$@"\n`,
    );
    chmodSync(join(bin, "ip"), 0o755);
    return [bin, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");
  }

  async function expectBerthNamespace(name: string, ino: bigint): Promise<void> {
    const path = join(dir, name);
    expect(nsfsMountsOn(path), `${path} mounts`).toBe(1);
    const marker = await readMarker(markerPath(stateDir, dir, name));
    expect(marker).toMatchObject({ state: "ready", ino: String(ino) });
  }

  it("creates and deletes through one shared helper process, which iproute2 agrees with", async () => {
    const [a, b] = [fresh(), fresh()];
    const nsA = (await createNetns(a, { stateDir }))._unsafeUnwrap();
    const [pid] = helperPids();
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toEqual([ip, "-force", "-batch", "-", ""]);
    const nsB = (await createNetns(b, { stateDir, loopbackUp: true }))._unsafeUnwrap();
    expect(helperPids()).toEqual([pid]);

    const listed = (await run(ip, ["netns", "list"])).stdout;
    expect(listed).toContain(a);
    expect(listed).toContain(b);
    await expectBerthNamespace(a, nsA.identity.ino);
    await expectBerthNamespace(b, nsB.identity.ino);
    expect((await readMarker(markerPath(stateDir, dir, a)))?.claim).toMatch(/^[0-9a-f-]{36}$/);
    expect((await run(ip, ["-n", b, "-o", "link", "show", "lo"])).stdout).toMatch(/UP/);
    expect((await run(ip, ["-n", a, "-o", "link", "show", "lo"])).stdout).not.toMatch(/<[^>]*\bUP\b/);

    // Refusals keep working on this path: a taken name, and a namespace berth did not make.
    expect((await createNetns(a, { stateDir }))._unsafeUnwrapErr().code).toBe("AlreadyExists");
    const foreign = fresh();
    await run(ip, ["netns", "add", foreign]);
    expect((await createNetns(foreign, { stateDir }))._unsafeUnwrapErr().code).toBe("AlreadyExists");
    expect((await deleteNetns(foreign, { stateDir }))._unsafeUnwrapErr().code).toBe("NotOwned");
    expect(nsfsMountsOn(join(dir, foreign))).toBe(1);

    expect((await nsA.delete())._unsafeUnwrap()).toBe(true);
    expect((await nsB.delete())._unsafeUnwrap()).toBe(true);
    expect((await deleteNetns(a, { stateDir }))._unsafeUnwrap()).toBe(false);
    expect(helperPids()).toEqual([pid]);

    await stopNetnsHelper();
    expect(alive(pid)).toBe(false);
    expect(helperPids()).toEqual([]);
  });

  it("starts no helper with resident: false, and lets both paths race for one name with one winner", async () => {
    const name = fresh();
    const ns = (await createNetns(name, { stateDir, resident: false }))._unsafeUnwrap();
    expect((await ns.delete({ resident: false }))._unsafeUnwrap()).toBe(true);
    expect(helperPids()).toEqual([]);

    const contested = fresh();
    const race = await Promise.all(
      Array.from({ length: 12 }, (_, i) => createNetns(contested, { stateDir, resident: i % 2 === 0 })),
    );
    const winners = race.filter((r) => r.isOk());
    expect(winners).toHaveLength(1);
    expect(race.filter((r) => r.isErr() && r.error.code === "AlreadyExists")).toHaveLength(11);
    const winner = winners[0]?._unsafeUnwrap();
    if (winner === undefined) throw new Error("no winner");
    await expectBerthNamespace(contested, winner.identity.ino);
    expect((await deleteNetns(contested, { stateDir }))._unsafeUnwrap()).toBe(true);
  });

  it.each([
    ["after making the namespace", `IFS= read -r line; ${"$"}REAL $line; echo died > "$FLAG"; exit 9`],
    ["before doing anything", `IFS= read -r line; echo died > "$FLAG"; exit 9`],
  ])("falls back to unshare when the helper dies mid-create %s: one mount, nothing leaked", async (_, body) => {
    const flag = join(root, "died");
    const searchPath = fakeIp(`REAL=${ip}; FLAG=${flag}\n${body}`);
    const name = fresh();
    const ns = (await createNetns(name, { stateDir, searchPath }))._unsafeUnwrap();
    expect(readFileSync(flag, "utf8")).toBe("died\n");
    await expectBerthNamespace(name, ns.identity.ino);
    expect((await ns.delete())._unsafeUnwrap()).toBe(true);
  });

  it("deletes every namespace stacked on the file through the helper (netns del answers EBUSY until the last)", async () => {
    const name = fresh();
    const ns = (await createNetns(name, { stateDir }))._unsafeUnwrap();
    await run("mount", ["--bind", ns.path, ns.path]);
    await run("mount", ["--bind", ns.path, ns.path]);
    expect(nsfsMountsOn(ns.path)).toBeGreaterThan(1);
    const [pid] = helperPids();
    expect((await ns.delete())._unsafeUnwrap()).toBe(true);
    expect(helperPids()).toEqual([pid]);
    expect(nsfsMountsOn(ns.path)).toBe(0);
    expect(existsSync(ns.path)).toBe(false);
  });

  it("falls back to umount when the helper dies mid-delete", async () => {
    const flag = join(root, "died");
    const searchPath = fakeIp(`IFS= read -r line; echo died > "${flag}"; exit 9`);
    const name = fresh();
    const ns = (await createNetns(name, { stateDir, resident: false }))._unsafeUnwrap();
    expect((await deleteNetns(name, { stateDir, searchPath }))._unsafeUnwrap()).toBe(true);
    expect(readFileSync(flag, "utf8")).toBe("died\n");
    expect(nsfsMountsOn(ns.path)).toBe(0);
    expect(existsSync(ns.path)).toBe(false);
  });

  it("keeps every result right when the helper is SIGKILLed with creates in flight, then restarts it", async () => {
    const batch = Array.from({ length: 30 }, () => fresh());
    const pending = Promise.all(batch.map((n) => createNetns(n, { stateDir })));
    await until("the helper runs", () => helperPids().length > 0, 10_000);
    const [killed] = helperPids();
    if (killed !== undefined) process.kill(killed, "SIGKILL");
    const created = await pending;
    for (const [i, c] of created.entries()) {
      const name = batch[i] ?? "";
      if (c.isOk()) await expectBerthNamespace(name, c.value.identity.ino);
      else {
        expect(NetnsError.is(c.error)).toBe(true);
        expect(existsSync(join(dir, name)), `${name} after ${c.error.message}`).toBe(false);
      }
    }
    // The killed helper's commands went to the spawned tools, so nothing failed.
    expect(created.filter((c) => c.isErr()).map((c) => (c.isErr() ? c.error.message : ""))).toEqual([]);
    await until(`pid ${killed} is gone`, () => !alive(killed));

    const deleted = await Promise.all(batch.map((n) => deleteNetns(n, { stateDir })));
    expect(deleted.map((d) => (d.isOk() ? d.value : d.error.message))).toEqual(batch.map(() => true));
    const again = (await createNetns(fresh(), { stateDir }))._unsafeUnwrap();
    expect(helperPids()).toHaveLength(1);
    expect(helperPids()).not.toContain(killed);
    (await again.delete())._unsafeUnwrap();
  });

  it.each(["exit", "hang"] as const)("takes the helper down with its process (%s)", async (mode) => {
    const name = fresh();
    const child = spawn(tsx, [join(here, "fixtures", "resident-child.ts"), name, stateDir, mode], {
      detached: true,
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    await until("the child reports its helper", () => out.includes("\n"), 60_000);
    const { pid: node, helpers } = JSON.parse(out) as { pid: number; helpers: number[] };
    expect(helpers).toHaveLength(1);
    const pid = helpers[0];
    expect(alive(pid)).toBe(true);
    // tsx runs the script in a child Node process: that one (not tsx, not the group) is what goes away here.
    if (mode === "hang") process.kill(node, "SIGKILL");
    await until(`node ${node} is gone`, () => !alive(node), 10_000);
    // Well within the helper's own idle stop (HELPER_IDLE_MS): it went because its input reached end-of-file.
    await until(`helper ${pid} is gone`, () => !alive(pid), 2_000);
    await exited;
  });

  it("sweeps what a creator SIGKILLed while the helper was making its namespace left", async () => {
    const flag = join(root, "reached");
    const searchPath = fakeIp(`IFS= read -r line; ${ip} $line; echo reached > "${flag}"; exec sleep 600`);
    const name = fresh();
    const creator = spawn(tsx, [join(here, "fixtures", "create-child.ts"), name, dir, stateDir, searchPath], {
      detached: true,
      stdio: "ignore",
    });
    children.push(creator);
    await until("the helper made the namespace", () => existsSync(flag), 60_000);
    const exited = new Promise((resolve) => creator.once("exit", resolve));
    if (creator.pid !== undefined) process.kill(-creator.pid, "SIGKILL");
    await exited;

    const marker = await readMarker(markerPath(stateDir, dir, name));
    expect(marker?.state).toBe("creating");
    const owner = marker?.owner?.pid;
    await until(`owner ${owner} is gone`, () => !alive(owner));
    expect(nsfsMountsOn(join(dir, name))).toBe(1);
    const report = (await sweepNetns({ stateDir }))._unsafeUnwrap();
    expect(report.removed).toEqual([name]);
    expect(existsSync(join(dir, name))).toBe(false);
    expect(nsfsMountsOn(join(dir, name))).toBe(0);
  });
});
