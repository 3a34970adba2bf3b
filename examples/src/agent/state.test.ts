import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  isAlive,
  listTaskRecords,
  readTaskRecord,
  removeTaskRecord,
  type TaskRecord,
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
    expect(!corrupt.ok && corrupt.error.message).toMatch(/is not a task record; remove it/);
    expect(await listTaskRecords(dir)).toEqual({ ok: true, value: [] });
  });

  it("tells live processes from gone ones", () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(2 ** 22 + 12345)).toBe(false);
  });
});
