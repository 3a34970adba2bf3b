// Crash recovery and privileges with real processes: a creator SIGKILLed in the middle of createNetns leaves a
// marked half-made namespace that sweepNetns removes; an unprivileged creator gets PermissionDenied, not a crash.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stack } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createNetns, sweepNetns } from "../src/index.js";
import { markerPath, readMarker } from "../src/owner.js";
import { entries, mountsOn, nsfsMountsOn, removeAndCheck, run, until } from "./helpers.js";

const s = stack();
const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, "fixtures", "create-child.ts");
const tsx = join(here, "..", "..", "..", "node_modules", ".bin", "tsx");

describe.skipIf(!s)("crash recovery and privileges", () => {
  let root: string;
  let dir: string;
  let stateDir: string;
  let fakeTools: string;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "berth-netns-crash-"));
    dir = join(root, "netns");
    stateDir = join(root, "state");
    fakeTools = join(root, "bin");
    mkdirSync(dir);
    mkdirSync(fakeTools);
  });

  afterEach(async () => {
    for (const c of children.splice(0)) {
      // Each child leads its own process group (detached): kill the whole group, the fake tool included.
      if (c.pid !== undefined) {
        try {
          process.kill(-c.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await removeAndCheck(entries(dir), dir, stateDir);
    expect(entries(dir)).toEqual([]);
    await run("umount", ["--lazy", dir]).catch(() => undefined);
    expect(mountsOn(dir)).toBe(0);
    rmSync(root, { recursive: true, force: true });
  });

  /**
   * A stand-in for util-linux `unshare` that runs the real one (or not), writes a flag file, then hangs: a
   * creator using it is stuck in the middle of createNetns at a known point.
   */
  function fakeUnshare(mode: "mount-then-hang" | "hang"): string {
    const flag = join(root, "reached");
    const body = mode === "mount-then-hang" ? '/usr/bin/unshare "$@" || exit 1\n' : "";
    writeFileSync(join(fakeTools, "unshare"), `#!/bin/sh\n${body}echo reached > ${flag}\nexec sleep 600\n`, {
      mode: 0o755,
    });
    return flag;
  }

  function startCreator(name: string): ChildProcess {
    const searchPath = [fakeTools, "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"].join(":");
    const c = spawn(tsx, [child, name, dir, stateDir, searchPath], { detached: true, stdio: "ignore" });
    children.push(c);
    return c;
  }

  async function killGroup(c: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => c.once("exit", resolve));
    if (c.pid !== undefined) process.kill(-c.pid, "SIGKILL");
    await exited;
  }

  it.each([
    ["after the namespace was mounted", "mount-then-hang", true],
    ["before the namespace was mounted (a mode-0 placeholder)", "hang", false],
  ] as const)("sweeps what a creator SIGKILLed %s left", async (_, mode, mounted) => {
    const flag = fakeUnshare(mode);
    const creator = startCreator("crashed");
    await until("the creator is inside unshare", () => existsSync(flag));
    await killGroup(creator);

    const path = join(dir, "crashed");
    const marker = await readMarker(markerPath(stateDir, dir, "crashed"));
    expect(marker?.state).toBe("creating");
    // The owner is the node process tsx started (a child of the one spawned here), killed with its group.
    const owner = marker?.owner?.pid;
    expect(owner).toBeGreaterThan(0);
    expect(owner).not.toBe(process.pid);
    await until(`owner ${owner} is gone`, () => !existsSync(`/proc/${owner}`));
    expect(existsSync(path)).toBe(true);
    expect(nsfsMountsOn(path)).toBe(mounted ? 1 : 0);

    // Our own live namespace in the same directory must survive the sweep.
    const live = (await createNetns("live", { dir, stateDir }))._unsafeUnwrap();
    const report = (await sweepNetns({ dir, stateDir }))._unsafeUnwrap();
    expect(report).toEqual({ removed: ["crashed"], markersRemoved: [], kept: ["live"] });
    expect(existsSync(path)).toBe(false);
    expect(nsfsMountsOn(path)).toBe(0);
    expect(existsSync(markerPath(stateDir, dir, "crashed"))).toBe(false);
    expect(nsfsMountsOn(live.path)).toBe(1);
    (await live.delete())._unsafeUnwrap();
  });

  it("sweeps a finished namespace whose owner exited without deleting it", async () => {
    const creator = startCreator("orphan");
    const code = await new Promise((resolve) => creator.once("exit", resolve));
    expect(code).toBe(0);
    expect(nsfsMountsOn(join(dir, "orphan"))).toBe(1);
    expect((await readMarker(markerPath(stateDir, dir, "orphan")))?.state).toBe("ready");
    expect((await sweepNetns({ dir, stateDir }))._unsafeUnwrap().removed).toEqual(["orphan"]);
    expect(entries(dir)).toEqual([]);
  });

  it("keeps a detached namespace in a sweep", async () => {
    const ns = (await createNetns("keep", { dir, stateDir, detached: true }))._unsafeUnwrap();
    expect(ns.deleteOnDispose).toBe(false);
    expect((await sweepNetns({ dir, stateDir }))._unsafeUnwrap().kept).toEqual(["keep"]);
    expect(nsfsMountsOn(ns.path)).toBe(1);
    (await ns.delete())._unsafeUnwrap();
  });

  it("gives an unprivileged creator PermissionDenied naming CAP_SYS_ADMIN, and leaves nothing", async () => {
    // A directory the unprivileged user may write to, so the kernel (not a file mode) has the last word.
    chownSync(root, 65534, 65534);
    chmodSync(root, 0o755);
    chownSync(dir, 65534, 65534);
    const outputs: string[] = [];
    for (const target of [dir, "/run/netns"]) {
      const r = await run(
        "setpriv",
        ["--reuid=65534", "--regid=65534", "--clear-groups", tsx, child, "unprivileged", target, stateDir],
        { cwd: here },
      ).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? "", stderr: e.stderr ?? "" }));
      outputs.push(r.stdout);
      const result = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
      expect(result, r.stderr).toMatchObject({ ok: false, code: "PermissionDenied", capability: "CAP_SYS_ADMIN" });
      expect(result.message).toMatch(/root|CAP_SYS_ADMIN/);
    }
    expect(outputs).toHaveLength(2);
    expect(existsSync("/run/netns/unprivileged")).toBe(false);
    expect(entries(dir)).toEqual([]);
  });
});
