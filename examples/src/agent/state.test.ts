import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  agentAlive,
  claimTaskRecord,
  isAlive,
  listTaskRecords,
  parseTaskRecord,
  processStartTime,
  readTaskRecord,
  removeTaskRecord,
  TASK_RECORD_VERSION,
  type TaskRecord,
  type TaskRuntime,
  writeTaskRecord,
} from "./state.js";

const record = (id: string, startedAt: string): TaskRecord => ({
  id,
  arn: `arn:aws:ecs:local:000000000000:task/berth/${id}`,
  family: "web",
  ip: "10.232.0.2",
  netns: `/run/netns/berth-${id}`,
  pid: process.pid,
  startedAt,
});

const runtime = (id: string): TaskRuntime => ({
  namespace: "berth-agent",
  snapshotter: "overlayfs",
  stateDir: "/run/berth/agent",
  taskDir: `/run/berth/agent/tasks/${id}`,
  stopGraceMs: 1000,
  netns: { name: `berth-${id}`, path: `/run/netns/berth-${id}` },
  cni: {
    cniPath: "/opt/cni/bin",
    cacheDir: "/run/berth/agent/cni-cache",
    config: '{"name":"berth-eni","cniVersion":"1.0.0","plugins":[{"type":"host-device","device":"be01020304"}]}',
    containerId: id,
    ifName: "eth0",
  },
  eniHostInterface: "bh01020304",
  metadata: {
    host: "10.233.0.1",
    port: 40123,
    endpoints: { [`${id}-app`]: "0123456789abcdef0123456789abcdef" },
    task: {
      cluster: "berth",
      arn: `arn:aws:ecs:local:000000000000:task/berth/${id}`,
      family: "web",
      revision: 1,
      knownStatus: "RUNNING",
      pullStartedAt: "2026-01-02T00:00:00.000Z",
      containers: [
        {
          runtimeId: `${id}-app`,
          name: "app",
          runtimeName: `${id}-app`,
          image: "busybox",
          imageId: "",
          desiredStatus: "RUNNING",
          knownStatus: "RUNNING",
          type: "NORMAL",
        },
      ],
    },
  },
  containers: [
    {
      name: "app",
      id: `${id}-app`,
      essential: true,
      logPath: `/run/berth/agent/tasks/${id}/app-json.log`,
      healthCheck: { command: ["CMD-SHELL", "true"], interval: 30, timeout: 5, retries: 3, startPeriod: 0 },
    },
  ],
});

describe("task records", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-agent-state-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes, reads, lists in start order and removes records", async () => {
    expect(await listTaskRecords(dir)).toEqual({ ok: true, value: [] });
    expect((await writeTaskRecord(dir, record("b", "2026-01-02T00:00:00.000Z"))).ok).toBe(true);
    expect((await writeTaskRecord(dir, { ...record("a", "2026-01-03T00:00:00.000Z"), log: "/x.log" })).ok).toBe(true);
    expect(await readTaskRecord(dir, "a")).toEqual({
      ok: true,
      value: { ...record("a", "2026-01-03T00:00:00.000Z"), log: "/x.log" },
    });
    const listed = await listTaskRecords(dir);
    expect(listed.ok && listed.value.map((r) => r.id)).toEqual(["b", "a"]);
    expect((await removeTaskRecord(dir, "b")).ok).toBe(true);
    expect((await removeTaskRecord(dir, "b")).ok).toBe(true);
    expect(await readTaskRecord(dir, "b")).toEqual({ ok: true, value: undefined });
  });

  it("refuses ids that could escape the directory and reports a corrupt record", async () => {
    const bad = await readTaskRecord(dir, "../etc/passwd");
    expect(!bad.ok && bad.error.code).toBe("StateFailed");
    mkdirSync(join(dir, "running"), { recursive: true });
    writeFileSync(join(dir, "running", "x.json"), "{ not json");
    const corrupt = await readTaskRecord(dir, "x");
    expect(!corrupt.ok && corrupt.error.message).toMatch(
      /x.json is not a task record \(it is not JSON .*\); remove it$/,
    );
    expect(await listTaskRecords(dir)).toEqual({ ok: true, value: [] });
  });

  it("tells live processes from gone ones", () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(2 ** 22 + 12345)).toBe(false);
  });

  it("round-trips a version 2 record with everything re-attaching needs", async () => {
    const full: TaskRecord = {
      ...record("t1", "2026-01-02T00:00:00.000Z"),
      version: TASK_RECORD_VERSION,
      agentStartTime: 1234,
      containerdAddress: "/run/containerd/containerd.sock",
      runtime: runtime("t1"),
    };
    expect((await writeTaskRecord(dir, full)).ok).toBe(true);
    expect(await readTaskRecord(dir, "t1")).toEqual({ ok: true, value: full });
    // Written through a temporary file: nothing else is left in the directory.
    expect(readdirSync(join(dir, "running"))).toEqual(["t1.json"]);
    expect(JSON.parse(readFileSync(join(dir, "running", "t1.json"), "utf8")).version).toBe(2);
  });

  it("survives concurrent writers of one record (each rename is atomic; the last one wins)", async () => {
    const writes = Array.from({ length: 20 }, (_, i) =>
      writeTaskRecord(dir, { ...record("c", "2026-01-02T00:00:00.000Z"), pid: 1000 + i }),
    );
    expect((await Promise.all(writes)).every((r) => r.ok)).toBe(true);
    const read = await readTaskRecord(dir, "c");
    expect(read.ok && read.value && read.value.pid >= 1000).toBe(true);
    expect(readdirSync(join(dir, "running"))).toEqual(["c.json"]);
  });

  it("reads version 1 records (no runtime) and refuses incomplete or newer ones, saying why", () => {
    const v1 = parseTaskRecord(JSON.stringify(record("old", "2026-01-01T00:00:00.000Z")));
    expect(v1.ok && v1.value.runtime).toBeUndefined();
    const broken = { ...runtime("x"), netns: { name: "berth-x" } };
    const incomplete = parseTaskRecord(JSON.stringify({ ...record("x", "t"), version: 2, runtime: broken }));
    expect(!incomplete.ok && incomplete.error.message).toBe("its runtime section is incomplete");
    const missing = parseTaskRecord(JSON.stringify({ ...record("x", "t"), version: 2 }));
    expect(!missing.ok && missing.error.message).toBe("it has no runtime section");
    const newer = parseTaskRecord(JSON.stringify({ ...record("x", "t"), version: 3, runtime: runtime("x") }));
    expect(!newer.ok && newer.error.message).toMatch(/version 3, newer than this agent's 2: use a newer berth/);
    const noEndpoint = runtime("x");
    const badEndpoints = { ...noEndpoint, metadata: { ...noEndpoint.metadata, endpoints: { a: 1 } } };
    expect(parseTaskRecord(JSON.stringify({ ...record("x", "t"), runtime: badEndpoints })).ok).toBe(false);
    const badCheck = { ...noEndpoint, containers: [{ name: "app", id: "x-app", essential: true, healthCheck: {} }] };
    expect(parseTaskRecord(JSON.stringify({ ...record("x", "t"), runtime: badCheck })).ok).toBe(false);
  });

  it("claims a record whose agent is gone for this process, once at a time", async () => {
    const orphan = { ...record("o", "2026-01-02T00:00:00.000Z"), pid: 2 ** 22 + 12345, agentStartTime: 7 };
    expect((await claimTaskRecord(dir, "o")).ok).toBe(false);
    await writeTaskRecord(dir, orphan);
    const claimFile = join(dir, "running", "o.claim");
    // Another process is in the middle of claiming it.
    writeFileSync(claimFile, "1\n");
    const busy = await claimTaskRecord(dir, "o");
    expect(!busy.ok && busy.error.message).toBe("another process is taking over task o right now; try again");
    // ... or died doing so, long ago: its claim file is stale.
    utimesSync(claimFile, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    expect(await claimTaskRecord(dir, "o")).toEqual({ ok: true, value: orphan });
    expect(existsSync(claimFile)).toBe(false);
    const now = await readTaskRecord(dir, "o");
    expect(now.ok && now.value).toEqual({ ...orphan, pid: process.pid, agentStartTime: processStartTime(process.pid) });
    // This process may claim it again; a live agent other than this one keeps it.
    expect((await claimTaskRecord(dir, "o")).ok).toBe(true);
    await writeTaskRecord(dir, { ...orphan, pid: process.ppid, agentStartTime: processStartTime(process.ppid) ?? 0 });
    const live = await claimTaskRecord(dir, "o");
    expect(!live.ok && live.error.message).toMatch(
      new RegExp(`task o still has a live agent \\(pid ${process.ppid}\\)`),
    );
  });

  it("tells the recorded agent from a process that reused its pid", async () => {
    const start = processStartTime(process.pid) ?? -1;
    expect(start).toBeGreaterThan(0);
    expect(agentAlive({ pid: process.pid, agentStartTime: start })).toBe(true);
    expect(agentAlive({ pid: process.pid })).toBe(true);
    expect(agentAlive({ pid: process.pid, agentStartTime: start + 1 })).toBe(false);
    const child = spawn("sleep", ["30"]);
    const childPid = child.pid ?? 0;
    const childStart = processStartTime(childPid) ?? -1;
    expect(agentAlive({ pid: childPid, agentStartTime: childStart })).toBe(true);
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect(agentAlive({ pid: childPid, agentStartTime: childStart })).toBe(false);
    expect(processStartTime(2 ** 22 + 12345)).toBeUndefined();
  });
});
