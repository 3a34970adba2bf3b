import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTool, runTool, TOOL_PACKAGES } from "./tools.js";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-netns-tools-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A directory holding one executable shell script named `tool`. */
function fakeTool(sub: string, tool: string, script: string): string {
  const d = join(dir, sub);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, tool), `#!/bin/sh\n${script}\n`);
  chmodSync(join(d, tool), 0o755);
  return d;
}

describe("findTool", () => {
  it("names the Debian package of each tool", () => {
    expect(TOOL_PACKAGES).toEqual({
      ip: "iproute2",
      nsenter: "util-linux",
      unshare: "util-linux",
      flock: "util-linux",
      mount: "mount",
      umount: "mount",
    });
  });

  it("fails with ToolMissing naming the Debian package", async () => {
    const e = (await findTool("ip", { searchPath: join(dir, "empty") }))._unsafeUnwrapErr();
    expect(e.code).toBe("ToolMissing");
    expect(e.package).toBe("iproute2");
    expect(e.message).toContain("apt-get install iproute2");
    const u = (await findTool("unshare", { searchPath: "" }))._unsafeUnwrapErr();
    expect(u.package).toBe("util-linux");
  });

  it("searches the directories in order, skips non-executables and relative entries", async () => {
    const first = fakeTool("first", "nsenter", "exit 0");
    const second = fakeTool("second", "nsenter", "exit 0");
    const plain = join(dir, "plain");
    mkdirSync(plain);
    writeFileSync(join(plain, "nsenter"), "not executable");
    const searchPath = ["relative/dir", plain, first, second].join(":");
    expect((await findTool("nsenter", { searchPath }))._unsafeUnwrap()).toBe(join(first, "nsenter"));
  });

  it("caches a found tool for the process but not a missing one", async () => {
    const d = fakeTool("cached", "unshare", "exit 0");
    expect((await findTool("unshare", { searchPath: d }))._unsafeUnwrap()).toBe(join(d, "unshare"));
    rmSync(join(d, "unshare"));
    expect((await findTool("unshare", { searchPath: d }))._unsafeUnwrap()).toBe(join(d, "unshare"));
    const late = join(dir, "late");
    expect((await findTool("ip", { searchPath: late }))._unsafeUnwrapErr().code).toBe("ToolMissing");
    fakeTool("late", "ip", "exit 0");
    expect((await findTool("ip", { searchPath: late }))._unsafeUnwrap()).toBe(join(late, "ip"));
  });

  it("finds the real tools of this machine on PATH or in sbin", async () => {
    for (const tool of ["ip", "nsenter", "unshare"] as const) {
      expect((await findTool(tool))._unsafeUnwrap()).toMatch(new RegExp(`^/.*/${tool}$`));
    }
  });
});

describe("runTool", () => {
  it("returns output and a non-zero exit code without failing, in the C locale", async () => {
    const d = fakeTool("run", "ip", 'echo "args: $* locale: $LC_ALL"; echo oops >&2; exit 3');
    const run = (await runTool("ip", ["netns", "list"], { searchPath: d }))._unsafeUnwrap();
    expect(run).toEqual({ exitCode: 3, signal: null, stdout: "args: netns list locale: C\n", stderr: "oops\n" });
  });

  it("kills the tool and fails with Aborted when the signal fires", async () => {
    const d = fakeTool("slow", "nsenter", "exec sleep 30");
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 50);
    const e = (await runTool("nsenter", [], { searchPath: d, signal: controller.signal }))._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
    expect(Date.now() - started).toBeLessThan(10_000);
    const before = (await runTool("nsenter", [], { searchPath: d, signal: controller.signal }))._unsafeUnwrapErr();
    expect(before.code).toBe("Aborted");
  });
});
