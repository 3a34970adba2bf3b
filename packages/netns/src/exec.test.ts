import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { execInNetns, launcherFor, spawnInNetns } from "./exec.js";

const dir = mkdtempSync(join(tmpdir(), "berth-netns-exec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const identity = { dev: 4n, ino: 4026532176n };

describe("launcherFor", () => {
  it("uses ip netns exec for a /run/netns name with /etc/netns/NAME files, so they are bound over /etc", () => {
    mkdirSync(join(dir, "etc", "task-1"), { recursive: true });
    const info = { name: "task-1", path: "/run/netns/task-1", identity };
    expect(launcherFor(info, join(dir, "etc"))).toEqual({ tool: "ip", args: ["netns", "exec", "task-1"] });
  });

  it("uses nsenter --net=PATH otherwise: no /etc files, another directory, or a path", () => {
    const etc = join(dir, "etc");
    const nsenter = (path: string) => ({ tool: "nsenter", args: [`--net=${path}`, "--"] });
    expect(launcherFor({ name: "task-2", path: "/run/netns/task-2", identity }, etc)).toEqual(
      nsenter("/run/netns/task-2"),
    );
    expect(launcherFor({ name: "task-1", path: "/tmp/ns/task-1", identity }, etc)).toEqual(nsenter("/tmp/ns/task-1"));
    expect(launcherFor({ path: "/proc/1/ns/net", identity }, etc)).toEqual(nsenter("/proc/1/ns/net"));
  });
});

describe("execInNetns / spawnInNetns before starting anything", () => {
  it("fail with NotFound for a missing namespace", async () => {
    const e = (await execInNetns("absent", "true", [], { dir }))._unsafeUnwrapErr();
    expect(e.code).toBe("NotFound");
    expect((await spawnInNetns(join(dir, "nope"), "true"))._unsafeUnwrapErr().code).toBe("NotFound");
  });

  it("fail with NotANamespace for a plain file, so a non-zero exit is always the command's own", async () => {
    writeFileSync(join(dir, "plain"), "");
    expect((await execInNetns("plain", "true", [], { dir }))._unsafeUnwrapErr().code).toBe("NotANamespace");
  });

  it("fail with Aborted when the signal has fired", async () => {
    const e = (await execInNetns("/proc/self/ns/net", "true", [], { signal: AbortSignal.abort() }))._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
  });
});
