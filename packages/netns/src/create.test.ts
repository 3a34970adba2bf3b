import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createNetns, isSharedMountPoint } from "./create.js";

const dir = mkdtempSync(join(tmpdir(), "berth-netns-create-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("createNetns before touching the system", () => {
  it("rejects names iproute2 rejects, creating nothing", async () => {
    for (const name of ["", "a/b", "..", "x\0y"]) {
      const e = (await createNetns(name, { dir, stateDir: join(dir, "state") }))._unsafeUnwrapErr();
      expect(e.code).toBe("InvalidName");
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("fails with Aborted when the signal has already fired, creating nothing", async () => {
    const e = (
      await createNetns("a", { dir, stateDir: join(dir, "state"), signal: AbortSignal.abort() })
    )._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("fails with ToolMissing, naming the package, when unshare cannot be found", async () => {
    const e = (
      await createNetns("a", { dir, stateDir: join(dir, "state"), searchPath: join(dir, "nobin") })
    )._unsafeUnwrapErr();
    expect(e.code).toBe("ToolMissing");
    expect(e.package).toBe("util-linux");
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("isSharedMountPoint", () => {
  it("is false for a plain directory and for a missing one", async () => {
    expect(await isSharedMountPoint(dir)).toBe(false);
    expect(await isSharedMountPoint(join(dir, "absent"))).toBe(false);
  });

  it("agrees with /proc/self/mountinfo for the root mount", async () => {
    const { readFileSync } = await import("node:fs");
    const root = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.split(" ")[4] === "/")
      .pop();
    expect(await isSharedMountPoint("/")).toBe(root?.includes(" shared:") ?? false);
  });
});
