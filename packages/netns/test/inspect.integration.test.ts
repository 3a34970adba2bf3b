// Inspecting namespaces made by the peer, iproute2's `ip netns add`, and processes started in them with
// `ip netns exec`. Needs root (creating namespaces and mounts); everything created is removed in afterEach,
// which then checks that no file in /run/netns and no nsfs mount is left behind.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stack, uniqueName } from "@berth/testkit";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  currentNetns,
  findNetnsOfPid,
  findTool,
  formatNetnsIdentity,
  inspectNetns,
  listNetns,
  netnsOfPid,
  sameIdentity,
} from "../src/index.js";

const run = promisify(execFile);
const s = stack();

/** Mount points of nsfs mounts in this process's mount namespace that end in `/NAME`. */
function nsfsMountsNamed(name: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((line) => line.includes(" - nsfs "))
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mountPoint) => mountPoint.endsWith(`/${name}`));
}

/** Resolves once `check` is true, polling every 10 ms; fails after `ms`. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

describe.skipIf(!s)("inspecting namespaces made by ip netns", () => {
  let ip: string;
  const names: string[] = [];
  const children: ChildProcess[] = [];
  const mounts: string[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    ip = (await findTool("ip"))._unsafeUnwrap();
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
    }
    for (const mountPoint of mounts.splice(0).reverse()) {
      await run("umount", ["--lazy", mountPoint]).catch(() => undefined);
    }
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    const deleted = names.splice(0);
    for (const name of deleted) {
      await run(ip, ["netns", "delete", name]).catch(() => undefined);
    }
    for (const name of deleted) {
      expect(existsSync(`/run/netns/${name}`), `/run/netns/${name} left behind`).toBe(false);
      expect(nsfsMountsNamed(name), `nsfs mount of ${name} left behind`).toEqual([]);
    }
  });

  /** `ip netns add` with a unique name, registered for deletion before it runs. */
  async function addNetns(): Promise<string> {
    const name = uniqueName("netns");
    names.push(name);
    await run(ip, ["netns", "add", name]);
    return name;
  }

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), "berth-netns-it-"));
    dirs.push(dir);
    return dir;
  }

  async function bindMount(source: string, target: string): Promise<void> {
    writeFileSync(target, "", { mode: 0 });
    await run("mount", ["--bind", source, target]);
    mounts.push(target);
  }

  it("inspects a namespace by name and by path, with the identity ip netns exec sees", async () => {
    const name = await addNetns();
    const byName = (await inspectNetns(name))._unsafeUnwrap();
    expect(byName.name).toBe(name);
    expect(byName.path).toBe(`/run/netns/${name}`);
    const byPath = (await inspectNetns(`/run/netns/${name}`))._unsafeUnwrap();
    expect(byPath.name).toBe(name);
    expect(sameIdentity(byPath.identity, byName.identity)).toBe(true);
    const viaVarRun = (await inspectNetns(`/var/run/netns/${name}`))._unsafeUnwrap();
    expect(sameIdentity(viaVarRun.identity, byName.identity)).toBe(true);

    const inside = await run(ip, ["netns", "exec", name, "readlink", "/proc/self/ns/net"]);
    expect(inside.stdout.trim()).toBe(formatNetnsIdentity(byName.identity));
    expect(sameIdentity(byName.identity, (await currentNetns())._unsafeUnwrap())).toBe(false);

    const listed = (await listNetns())._unsafeUnwrap().find((e) => e.name === name);
    expect(listed?.stale).toBe(false);
    if (listed?.stale === false) expect(sameIdentity(listed.identity, byName.identity)).toBe(true);
  });

  it("finds the namespace of a process started with ip netns exec", async () => {
    const name = await addNetns();
    const info = (await inspectNetns(name))._unsafeUnwrap();
    const child = spawn(ip, ["netns", "exec", name, "sleep", "30"], { stdio: "ignore" });
    children.push(child);
    const pid = child.pid;
    if (pid === undefined) throw new Error("ip netns exec did not start");
    // ip netns exec switches namespace, then execs sleep: once the process is sleep, it is inside.
    await until(`pid ${pid} runs sleep`, () => comm(pid) === "sleep");
    expect(sameIdentity((await netnsOfPid(pid))._unsafeUnwrap(), info.identity)).toBe(true);
    const found = (await findNetnsOfPid(pid))._unsafeUnwrap();
    expect(found?.name).toBe(name);
    expect(found?.path).toBe(`/run/netns/${name}`);
    expect((await findNetnsOfPid(process.pid))._unsafeUnwrap()).toBeUndefined();
  });

  it("tells two namespaces apart", async () => {
    const [a, b] = [await addNetns(), await addNetns()];
    const ia = (await inspectNetns(a))._unsafeUnwrap().identity;
    const ib = (await inspectNetns(b))._unsafeUnwrap().identity;
    expect(sameIdentity(ia, ib)).toBe(false);
    expect(formatNetnsIdentity(ia)).not.toBe(formatNetnsIdentity(ib));
  });

  it("reads the type of bind-mounted nsfs files from mountinfo: net is a namespace, uts is not", async () => {
    const name = await addNetns();
    const identity = (await inspectNetns(name))._unsafeUnwrap().identity;
    const dir = tempDir();
    await bindMount(`/run/netns/${name}`, join(dir, "net-copy"));
    await bindMount("/proc/self/ns/uts", join(dir, "uts"));
    writeFileSync(join(dir, "placeholder"), "", { mode: 0 });

    const copy = (await inspectNetns(join(dir, "net-copy")))._unsafeUnwrap();
    expect(sameIdentity(copy.identity, identity)).toBe(true);
    const uts = (await inspectNetns(join(dir, "uts")))._unsafeUnwrapErr();
    expect(uts.code).toBe("NotANamespace");
    expect(uts.message).toContain("a uts namespace");

    const entries = (await listNetns({ dir }))._unsafeUnwrap();
    expect(entries.map((e) => [e.name, e.stale])).toEqual([
      ["net-copy", false],
      ["placeholder", true],
      ["uts", true],
    ]);
    expect((await findNetnsOfPid(process.pid, { dir }))._unsafeUnwrap()).toBeUndefined();
  });

  it("asks the kernel (nsenter) about nsfs mounts this mount namespace cannot see", async () => {
    const dir = tempDir();
    for (const f of ["net", "uts"]) writeFileSync(join(dir, f), "", { mode: 0 });
    // A child in a new network and a private mount namespace mounts its own net namespace and the host's uts
    // namespace: neither mount nor namespace is visible in this process's mountinfo, so only setns can tell.
    const script =
      `mount --bind /proc/self/ns/net ${dir}/net && mount --bind /proc/self/ns/uts ${dir}/uts && ` +
      "echo ready && exec sleep 30";
    const child = spawn("unshare", ["--mount", "--propagation", "private", "--net", "sh", "-c", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    const pid = child.pid;
    if (pid === undefined) throw new Error("unshare did not start");
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    await until("the child mounted both files", () => out.includes("ready"));
    const childNetns = (await netnsOfPid(pid))._unsafeUnwrap();
    expect(sameIdentity(childNetns, (await currentNetns())._unsafeUnwrap())).toBe(false);
    const visible = readFileSync("/proc/self/mountinfo", "utf8");
    expect(visible).not.toContain(dir);
    expect(visible).not.toContain(formatNetnsIdentity(childNetns));

    const root = `/proc/${pid}/root${dir}`;
    const net = (await inspectNetns(`${root}/net`))._unsafeUnwrap();
    expect(sameIdentity(net.identity, childNetns)).toBe(true);
    const uts = (await inspectNetns(`${root}/uts`))._unsafeUnwrapErr();
    expect(uts.code).toBe("NotANamespace");
    expect(uts.message).toContain("not a network namespace");
    // Seen from here, the files are still the plain placeholders.
    expect((await inspectNetns(join(dir, "net")))._unsafeUnwrapErr().message).toContain("plain file");
  });
});
