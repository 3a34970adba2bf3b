// Sweeping markers and placeholders in a temporary directory: nothing is mounted, so no root is needed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deleteNetns } from "./delete.js";
import { markerDir, markerPath, type OwnerMarker, selfIdentity, writeMarker } from "./owner.js";
import { sweepNetns } from "./sweep.js";

const root = mkdtempSync(join(tmpdir(), "berth-netns-sweep-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function deadPid(): number {
  return Number(spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim());
}

function setup(name: string) {
  const dir = join(root, name, "netns");
  const stateDir = join(root, name, "state");
  mkdirSync(dir, { recursive: true });
  return { dir, stateDir };
}

async function mark(stateDir: string, dir: string, name: string, patch: Partial<OwnerMarker>): Promise<void> {
  const owner = await selfIdentity();
  await writeMarker(markerPath(stateDir, dir, name), {
    version: 1,
    name,
    path: join(dir, name),
    state: "creating",
    owner,
    createdAt: new Date().toISOString(),
    ...patch,
  });
}

describe("sweepNetns", () => {
  it("removes what a dead owner left (placeholder, /etc dir, marker) and keeps live, detached and foreign", async () => {
    const { dir, stateDir } = setup("mixed");
    const me = await selfIdentity();
    const dead = { ...me, pid: deadPid() };
    const etcDir = join(root, "mixed", "etc", "crashed");
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(join(etcDir, "resolv.conf"), "nameserver 10.213.0.1\n");
    writeFileSync(join(dir, "crashed"), "", { mode: 0 });
    await mark(stateDir, dir, "crashed", { owner: dead, etcDir });
    await mark(stateDir, dir, "gone", { owner: dead, state: "ready", ino: "1" });
    writeFileSync(join(dir, "mine"), "", { mode: 0 });
    await mark(stateDir, dir, "mine", {});
    writeFileSync(join(dir, "kept"), "", { mode: 0 });
    await mark(stateDir, dir, "kept", { owner: null, state: "ready" });
    writeFileSync(join(dir, "foreign"), "", { mode: 0 });
    const temp = `${markerPath(stateDir, dir, "x")}.${dead.pid}.0.tmp`;
    writeFileSync(temp, "{");

    const report = (await sweepNetns({ dir, stateDir }))._unsafeUnwrap();
    expect(report).toEqual({ removed: ["crashed"], markersRemoved: ["gone"], kept: ["kept", "mine"] });
    expect(readdirSync(dir).sort()).toEqual(["foreign", "kept", "mine"]);
    expect(existsSync(etcDir)).toBe(false);
    expect(readdirSync(markerDir(stateDir, dir)).sort()).toEqual(["kept.json", "mine.json"]);
    // A second sweep finds nothing more to do.
    expect((await sweepNetns({ dir, stateDir }))._unsafeUnwrap()).toEqual({
      removed: [],
      markersRemoved: [],
      kept: ["kept", "mine"],
    });
  });

  it("is a no-op without a state directory, and stops at once when aborted", async () => {
    const { dir, stateDir } = setup("empty");
    expect((await sweepNetns({ dir, stateDir }))._unsafeUnwrap()).toEqual({
      removed: [],
      markersRemoved: [],
      kept: [],
    });
    await mark(stateDir, dir, "a", {});
    const e = (await sweepNetns({ dir, stateDir, signal: AbortSignal.abort() }))._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
  });
});

describe("deleteNetns without mounts", () => {
  it("is idempotent: nothing there is ok(false)", async () => {
    const { dir, stateDir } = setup("idem");
    expect((await deleteNetns("absent", { dir, stateDir }))._unsafeUnwrap()).toBe(false);
  });

  it("refuses a file berth did not create unless forced", async () => {
    const { dir, stateDir } = setup("foreign");
    writeFileSync(join(dir, "theirs"), "", { mode: 0 });
    const e = (await deleteNetns("theirs", { dir, stateDir }))._unsafeUnwrapErr();
    expect(e.code).toBe("NotOwned");
    expect(e.message).toContain("force");
    expect(existsSync(join(dir, "theirs"))).toBe(true);
    expect((await deleteNetns(join(dir, "theirs"), { stateDir, force: true }))._unsafeUnwrap()).toBe(true);
    expect(existsSync(join(dir, "theirs"))).toBe(false);
  });

  it("removes berth's placeholder and marker, and rejects bad names", async () => {
    const { dir, stateDir } = setup("own");
    writeFileSync(join(dir, "ours"), "", { mode: 0 });
    await mark(stateDir, dir, "ours", {});
    expect((await deleteNetns("ours", { dir, stateDir }))._unsafeUnwrap()).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    expect(readdirSync(markerDir(stateDir, dir))).toEqual([]);
    expect((await deleteNetns("..", { dir, stateDir }))._unsafeUnwrapErr().code).toBe("InvalidName");
  });
});
