// Inspection against what every Linux process has: its own /proc/self/ns files. No root needed.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  currentNetns,
  findNetnsOfPid,
  formatNetnsIdentity,
  inspectNetns,
  listNetns,
  NSFS_MAGIC,
  netnsOfPid,
  sameIdentity,
} from "./inspect.js";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-netns-inspect-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh directory under the test's temp dir. */
function subdir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  return d;
}

describe("inspectNetns", () => {
  it("accepts /proc/self/ns/net, with the identity of currentNetns() and the kernel's name", async () => {
    const info = (await inspectNetns("/proc/self/ns/net"))._unsafeUnwrap();
    const current = (await currentNetns())._unsafeUnwrap();
    expect(info.path).toBe("/proc/self/ns/net");
    expect(info.name).toBeUndefined();
    expect(sameIdentity(info.identity, current)).toBe(true);
    expect(formatNetnsIdentity(info.identity)).toBe(readlinkSync("/proc/self/ns/net"));
    expect(NSFS_MAGIC).toBe(0x6e736673);
  });

  it("rejects a regular file as NotANamespace and says how to clean it up", async () => {
    const file = join(dir, "regular");
    writeFileSync(file, "");
    const e = (await inspectNetns(file))._unsafeUnwrapErr();
    expect(e.code).toBe("NotANamespace");
    expect(e.path).toBe(file);
    expect(e.message).toContain("plain file");
    expect(e.message).toContain(`rm ${file}`);
  });

  it("rejects iproute2's mode-000 placeholder by name, pointing at ip netns delete", async () => {
    const d = subdir("placeholder");
    writeFileSync(join(d, "leftover"), "", { mode: 0 });
    const e = (await inspectNetns("leftover", { dir: d }))._unsafeUnwrapErr();
    expect(e.code).toBe("NotANamespace");
    expect(e.message).toContain("mode 0000");
    expect(e.message).toContain("ip netns delete leftover");
  });

  it("rejects /proc/self/ns/uts: on nsfs, but not a network namespace", async () => {
    const e = (await inspectNetns("/proc/self/ns/uts"))._unsafeUnwrapErr();
    expect(e.code).toBe("NotANamespace");
    expect(e.message).toContain("a uts namespace");
    expect(e.message).toContain(readlinkSync("/proc/self/ns/uts"));
  });

  it("rejects a directory", async () => {
    const e = (await inspectNetns(dir))._unsafeUnwrapErr();
    expect(e.code).toBe("NotANamespace");
    expect(e.message).toContain("a directory");
  });

  it("reports a missing name or path as NotFound", async () => {
    const byName = (await inspectNetns("absent", { dir }))._unsafeUnwrapErr();
    expect(byName.code).toBe("NotFound");
    expect(byName.path).toBe(join(dir, "absent"));
    expect(byName.message).toContain("ip netns add absent");
    const byPath = (await inspectNetns(join(dir, "nope", "deeper")))._unsafeUnwrapErr();
    expect(byPath.code).toBe("NotFound");
  });

  it("treats a word as a name in the directory and anything with a slash as a path", async () => {
    const d = subdir("links");
    symlinkSync("/proc/self/ns/net", join(d, "mine"));
    const byName = (await inspectNetns("mine", { dir: d }))._unsafeUnwrap();
    expect(byName).toMatchObject({ name: "mine", path: join(d, "mine") });
    // A path inside the directory gets its name; a relative path is made absolute.
    const byPath = (await inspectNetns(join(d, "mine"), { dir: d }))._unsafeUnwrap();
    expect(byPath.name).toBe("mine");
    expect(sameIdentity(byPath.identity, byName.identity)).toBe(true);
    expect((await inspectNetns(join(d, "mine")))._unsafeUnwrap().name).toBeUndefined();
  });

  it("refuses invalid names and NUL bytes in paths", async () => {
    expect((await inspectNetns(".."))._unsafeUnwrapErr().code).toBe("InvalidName");
    expect((await inspectNetns(""))._unsafeUnwrapErr().code).toBe("InvalidName");
    expect((await inspectNetns("/tmp/a\0b"))._unsafeUnwrapErr().code).toBe("InvalidName");
  });

  it("fails with Aborted when the signal has fired", async () => {
    const e = (await inspectNetns("/proc/self/ns/net", { signal: AbortSignal.abort() }))._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
  });
});

describe("netnsOfPid and currentNetns", () => {
  it("gives this process's namespace for its own pid and for a child in the same namespace", async () => {
    const current = (await currentNetns())._unsafeUnwrap();
    expect(sameIdentity((await netnsOfPid(process.pid))._unsafeUnwrap(), current)).toBe(true);
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const pid = child.pid ?? 0;
      expect(sameIdentity((await netnsOfPid(pid))._unsafeUnwrap(), current)).toBe(true);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("reports a process that has exited as NotFound", async () => {
    const child = spawn("true", [], { stdio: "ignore" });
    const pid = child.pid ?? 0;
    await new Promise((resolve) => child.on("close", resolve));
    const e = (await netnsOfPid(pid))._unsafeUnwrapErr();
    expect(e.code).toBe("NotFound");
    expect(e.message).toContain(`pid ${pid}`);
  });

  // As root every process is readable; the suite also runs as an ordinary user, where this case applies.
  it.skipIf(process.getuid?.() === 0)(
    "reports another user's process as PermissionDenied (CAP_SYS_PTRACE)",
    async () => {
      const e = (await netnsOfPid(1))._unsafeUnwrapErr();
      expect(e.code).toBe("PermissionDenied");
      expect(e.capability).toBe("CAP_SYS_PTRACE");
      expect(e.path).toBe("/proc/1/ns/net");
    },
  );

  it("reports impossible pids as NotFound", async () => {
    for (const pid of [0, -1, 1.5, Number.NaN]) {
      expect((await netnsOfPid(pid))._unsafeUnwrapErr().code).toBe("NotFound");
    }
  });
});

describe("listNetns", () => {
  it("lists namespaces and flags files that are not mounted namespaces as stale", async () => {
    const d = subdir("list");
    writeFileSync(join(d, "b-plain"), "", { mode: 0 });
    symlinkSync("/proc/self/ns/net", join(d, "a-net"));
    symlinkSync("/proc/self/ns/uts", join(d, "c-uts"));
    const entries = (await listNetns({ dir: d }))._unsafeUnwrap();
    expect(entries.map((e) => [e.name, e.stale])).toEqual([
      ["a-net", false],
      ["b-plain", true],
      ["c-uts", true],
    ]);
    const [net, plain, uts] = entries;
    if (net?.stale !== false || plain?.stale !== true || uts?.stale !== true) throw new Error("unexpected entries");
    expect(sameIdentity(net.identity, (await currentNetns())._unsafeUnwrap())).toBe(true);
    expect(net.path).toBe(join(d, "a-net"));
    expect(plain.problem.code).toBe("NotANamespace");
    expect(plain.path).toBe(join(d, "b-plain"));
    expect(uts.problem.message).toContain("uts");
  });

  it("returns an empty list for a missing directory, like ip netns list", async () => {
    expect((await listNetns({ dir: join(dir, "missing") }))._unsafeUnwrap()).toEqual([]);
  });

  it("fails when the directory is not a directory", async () => {
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "");
    expect((await listNetns({ dir: file }))._unsafeUnwrapErr().code).toBe("NotFound");
  });

  it("fails with Aborted when the signal has fired", async () => {
    const d = subdir("list-aborted");
    symlinkSync("/proc/self/ns/net", join(d, "x"));
    expect((await listNetns({ dir: d, signal: AbortSignal.abort() }))._unsafeUnwrapErr().code).toBe("Aborted");
  });
});

describe("findNetnsOfPid", () => {
  it("finds the name whose file is the pid's namespace, and undefined when none is", async () => {
    const d = subdir("find");
    writeFileSync(join(d, "a-plain"), "");
    symlinkSync("/proc/self/ns/uts", join(d, "b-uts"));
    expect((await findNetnsOfPid(process.pid, { dir: d }))._unsafeUnwrap()).toBeUndefined();
    symlinkSync("/proc/self/ns/net", join(d, "c-net"));
    symlinkSync("/proc/self/ns/net", join(d, "d-net-too"));
    const found = (await findNetnsOfPid(process.pid, { dir: d }))._unsafeUnwrap();
    expect(found?.name).toBe("c-net");
    expect(found?.path).toBe(join(d, "c-net"));
    expect((await findNetnsOfPid(process.pid, { dir: join(dir, "missing") }))._unsafeUnwrap()).toBeUndefined();
  });

  it("passes on netnsOfPid's NotFound", async () => {
    expect((await findNetnsOfPid(-5, { dir }))._unsafeUnwrapErr().code).toBe("NotFound");
  });
});
