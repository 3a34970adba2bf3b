import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  isOwnerMarker,
  markedNames,
  markerDir,
  markerPath,
  type OwnerMarker,
  ownerState,
  parseStartTime,
  readMarker,
  removeMarker,
  selfIdentity,
  writeMarker,
} from "./owner.js";

const dir = mkdtempSync(join(tmpdir(), "berth-netns-owner-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(child.stdout.trim());
}

describe("parseStartTime", () => {
  it("reads field 22, also when the command name has spaces and parentheses", () => {
    const rest = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21";
    expect(parseStartTime(`42 (node) ${rest}`)).toBe("987654");
    expect(parseStartTime(`42 (a) b (c)) ${rest}`)).toBe("987654");
    expect(parseStartTime("42 (node) S 1 2")).toBeUndefined();
    expect(parseStartTime("garbage")).toBeUndefined();
  });

  it("agrees with this process's own /proc/self/stat", async () => {
    const me = await selfIdentity();
    expect(me.pid).toBe(process.pid);
    expect(me.startTime).toBe(parseStartTime(readFileSync(`/proc/${process.pid}/stat`, "utf8")));
    expect(me.bootId).toBe(readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
  });
});

describe("ownerState", () => {
  it("is alive for this process", async () => {
    expect(await ownerState(await selfIdentity())).toBe("alive");
  });

  it("is dead for an exited process", async () => {
    const me = await selfIdentity();
    expect(await ownerState({ ...me, pid: deadPid() })).toBe("dead");
  });

  it("is dead when the pid now belongs to a process with another start time (pid reuse)", async () => {
    const me = await selfIdentity();
    expect(await ownerState({ ...me, startTime: "1" })).toBe("dead");
  });

  it("is dead after a reboot (another boot id)", async () => {
    const me = await selfIdentity();
    expect(await ownerState({ ...me, bootId: "00000000-0000-0000-0000-000000000000" })).toBe("dead");
  });
});

describe("markers", () => {
  const marker: OwnerMarker = {
    version: 1,
    name: "task-1",
    path: "/run/netns/task-1",
    state: "ready",
    owner: { pid: 1, startTime: "5", bootId: "b" },
    ino: "4026532176",
    createdAt: new Date(0).toISOString(),
  };

  it("keeps one directory per netns directory, named unambiguously", () => {
    expect(markerDir("/run/berth/netns", "/run/netns")).toBe("/run/berth/netns/%2Frun%2Fnetns");
    expect(markerPath("/s", "/var/run/netns/", "a")).toBe("/s/%2Fvar%2Frun%2Fnetns/a.json");
    expect(markerDir("/s", "/a-b")).not.toBe(markerDir("/s", "/a/b"));
  });

  it("writes atomically, reads back, lists and removes", async () => {
    const d = markerDir(join(dir, "state"), "/run/netns");
    const file = join(d, "task-1.json");
    await writeMarker(file, marker);
    await writeMarker(join(d, "task-2.json"), { ...marker, name: "task-2", owner: null });
    expect(await readMarker(file)).toEqual(marker);
    expect(readdirSync(d).sort()).toEqual(["task-1.json", "task-2.json"]);
    expect(await markedNames(d)).toEqual(["task-1", "task-2"]);
    await removeMarker(file);
    await removeMarker(file);
    expect(await readMarker(file)).toBeUndefined();
    expect(await markedNames(join(dir, "absent"))).toEqual([]);
  });

  it("treats torn or foreign files as no marker", async () => {
    const file = join(dir, "torn.json");
    writeFileSync(file, '{"version":1,"na');
    expect(await readMarker(file)).toBeUndefined();
    writeFileSync(file, JSON.stringify({ ...marker, state: "gone" }));
    expect(await readMarker(file)).toBeUndefined();
    expect(isOwnerMarker({ ...marker, owner: { pid: "1" } })).toBe(false);
    expect(isOwnerMarker({ ...marker, owner: null })).toBe(true);
    expect(isOwnerMarker(null)).toBe(false);
  });
});
