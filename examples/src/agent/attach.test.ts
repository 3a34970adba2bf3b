import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createContainerd } from "@berth/containerd";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assessTask, attachTask, fifoDirOf, fifoDirsFor, type ObservedContainer } from "./attach.js";
import { readTaskRecord, type TaskRecord, type TaskRuntime, writeTaskRecord } from "./state.js";

const GONE_PID = 2 ** 22 + 12345;

function runtime(containers: { name: string; essential: boolean; stopped?: boolean }[]): TaskRuntime {
  return {
    namespace: "berth-agent-test",
    snapshotter: "overlayfs",
    stateDir: "/nonexistent",
    taskDir: "/nonexistent/tasks/t",
    stopGraceMs: 1000,
    netns: { name: "berth-t", path: "/run/netns/berth-t" },
    cni: {
      cniPath: "/opt/cni/bin",
      cacheDir: "/nonexistent/cni-cache",
      config: "{}",
      containerId: "t",
      ifName: "eth0",
    },
    metadata: {
      host: "127.0.0.1",
      port: 1,
      endpoints: {},
      task: {
        cluster: "berth",
        arn: "arn:aws:ecs:local:000000000000:task/berth/t",
        family: "web",
        revision: 1,
        knownStatus: "RUNNING",
        containers: containers.map((c) => ({
          runtimeId: `t-${c.name}`,
          name: c.name,
          runtimeName: `t-${c.name}`,
          image: "busybox",
          imageId: "",
          desiredStatus: "RUNNING",
          knownStatus: c.stopped ? "STOPPED" : "RUNNING",
          type: "NORMAL",
        })),
      },
    },
    containers: containers.map((c) => ({ name: c.name, id: `t-${c.name}`, essential: c.essential })),
  };
}

const running: ObservedContainer = { status: "running", pid: 42 };

describe("assessTask", () => {
  const rt = runtime([
    { name: "app", essential: true },
    { name: "sidecar", essential: false },
  ]);

  it("keeps a task whose containers all still run", () => {
    const seen = new Map([
      ["app", running],
      ["sidecar", running],
    ]);
    expect(assessTask(rt, seen)).toEqual({ stopReason: undefined, notes: [] });
  });

  it("stops the task when an essential container exited while no agent ran", () => {
    const seen = new Map<string, ObservedContainer>([
      ["app", { status: "exited", exitCode: 137 }],
      ["sidecar", running],
    ]);
    expect(assessTask(rt, seen)).toEqual({
      stopReason: "essential container app exited with 137",
      notes: ["app exited with 137 while no agent ran"],
    });
  });

  it("keeps the task when only a non-essential container exited, and says so", () => {
    const seen = new Map<string, ObservedContainer>([
      ["app", running],
      ["sidecar", { status: "exited", exitCode: 0 }],
    ]);
    expect(assessTask(rt, seen)).toEqual({
      stopReason: undefined,
      notes: ["sidecar exited with 0 while no agent ran"],
    });
  });

  it("does not report an exit the dead agent had already recorded", () => {
    const seenBefore = runtime([
      { name: "app", essential: true },
      { name: "sidecar", essential: false, stopped: true },
    ]);
    const seen = new Map<string, ObservedContainer>([
      ["app", running],
      ["sidecar", { status: "exited", exitCode: 0 }],
    ]);
    expect(assessTask(seenBefore, seen)).toEqual({ stopReason: undefined, notes: [] });
  });

  it("treats a container gone from containerd (or never reported) as lost, and stops for an essential one", () => {
    expect(assessTask(rt, new Map([["sidecar", running]]))).toEqual({
      stopReason: "essential container app is gone from containerd",
      notes: ["app is gone from containerd while no agent ran"],
    });
  });

  it("stops a task without essential containers once every container is done", () => {
    const loose = runtime([
      { name: "a", essential: false },
      { name: "b", essential: false },
    ]);
    const seen = new Map<string, ObservedContainer>([
      ["a", { status: "exited", exitCode: 0 }],
      ["b", { status: "missing" }],
    ]);
    expect(assessTask(loose, seen)).toEqual({
      stopReason: "every container has exited",
      notes: ["a exited with 0 while no agent ran", "b is gone from containerd while no agent ran"],
    });
    expect(assessTask(loose, new Map([["a", running]])).stopReason).toBeUndefined();
  });
});

describe("fifoDirOf", () => {
  it("finds the FIFO directory createFifoIO made, and nothing else", () => {
    expect(fifoDirOf("/tmp/berth-fifo-a1B2c3/t-app-stdout")).toBe("/tmp/berth-fifo-a1B2c3");
    expect(fifoDirOf("/tmp/other/t-app-stdout")).toBeUndefined();
    expect(fifoDirOf("binary:///usr/bin/berth-logger?driver=json-file")).toBeUndefined();
    expect(fifoDirOf("")).toBeUndefined();
  });
});

describe("fifoDirsFor", () => {
  it("finds a container's FIFO directories by their FIFOs, not by plain files or other containers", () => {
    const parent = mkdtempSync(join(tmpdir(), "berth-fifo-parent-"));
    try {
      for (const d of ["berth-fifo-a", "berth-fifo-b", "berth-fifo-c", "other"]) mkdirSync(join(parent, d));
      execFileSync("mkfifo", [
        join(parent, "berth-fifo-a", "t-app-stdout"),
        join(parent, "berth-fifo-a", "t-app-stderr"),
      ]);
      execFileSync("mkfifo", [join(parent, "berth-fifo-b", "t-sidecar-stdout"), join(parent, "other", "t-app-stdout")]);
      writeFileSync(join(parent, "berth-fifo-c", "t-app-stdout"), "not a fifo");
      expect(fifoDirsFor("t-app", parent)).toEqual([join(parent, "berth-fifo-a")]);
      expect(fifoDirsFor("t-sidecar", parent)).toEqual([join(parent, "berth-fifo-b")]);
      expect(fifoDirsFor("t-none", parent)).toEqual([]);
      expect(fifoDirsFor("t-app", join(parent, "missing"))).toEqual([]);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("attachTask refuses what it cannot take over", () => {
  let dir: string;
  const record = (over: Partial<TaskRecord> = {}): TaskRecord => ({
    version: 2,
    id: "t",
    arn: "arn:aws:ecs:local:000000000000:task/berth/t",
    family: "web",
    ip: "10.232.0.2",
    netns: "/run/netns/berth-t",
    pid: GONE_PID,
    startedAt: "2026-01-01T00:00:00.000Z",
    runtime: runtime([{ name: "app", essential: true }]),
    ...over,
  });
  // Never connected: every check below happens before containerd is asked, or fails to reach it.
  const client = (namespace: string) =>
    createContainerd({ address: join(tmpdir(), "berth-no-such.sock"), namespace, timeoutMs: 3000 })._unsafeUnwrap();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-attach-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("needs a record", async () => {
    const r = await attachTask("t", { containerd: client("berth-agent-test"), stateDir: dir });
    expect(!r.ok && r.error.message).toBe(`no task t is recorded in ${dir} (see \`pnpm berth task ls\`)`);
  });

  it("needs a version 2 record", async () => {
    const { version: _v, runtime: _r, ...v1 } = record();
    await writeTaskRecord(dir, v1);
    const r = await attachTask("t", { containerd: client("berth-agent-test"), stateDir: dir });
    expect(!r.ok && r.error.code).toBe("StateFailed");
    expect(!r.ok && r.error.message).toMatch(/without re-attach support \(record version 1\)/);
  });

  it("leaves a task whose agent still runs alone", async () => {
    await writeTaskRecord(dir, record({ pid: process.ppid }));
    const r = await attachTask("t", { containerd: client("berth-agent-test"), stateDir: dir });
    expect(!r.ok && r.error.message).toMatch(
      new RegExp(`task t still has a live agent \\(pid ${process.ppid}\\): stop it with`),
    );
  });

  it("needs a client in the task's namespace", async () => {
    await writeTaskRecord(dir, record());
    const r = await attachTask("t", { containerd: client("elsewhere"), stateDir: dir });
    expect(!r.ok && r.error.message).toMatch(/containerd namespace berth-agent-test, but the client is in elsewhere/);
  });

  it("fails without touching anything when containerd cannot be asked", async () => {
    await writeTaskRecord(dir, record());
    await using c = client("berth-agent-test");
    const r = await attachTask("t", { containerd: c, stateDir: dir });
    expect(!r.ok && r.error.code).toBe("ContainerFailed");
    expect(!r.ok && r.error.message).toMatch(/^asking containerd about app \(t-app\): /);
    // The record still names the dead agent: nothing was claimed.
    const after = await readTaskRecord(dir, "t");
    expect(after.ok && after.value?.pid).toBe(GONE_PID);
  });
});
