import { describe, expect, it } from "vitest";
import { applySpecOpts } from "./build.js";
import { defaultSpec } from "./defaults.js";
import { withArgs, withEnv, withHostNamespace, withHostname, withUidGid } from "./options.js";
import { execProcess, validateSpec } from "./process.js";
import type { Spec } from "./types.js";

const ctx = { namespace: "test", id: "p1" };

async function container(): Promise<Spec> {
  return (
    await applySpecOpts(
      defaultSpec(ctx),
      ctx,
      withArgs("sleep", "60"),
      withEnv(["PATH=/bin", "A=1"]),
      withUidGid(10, 20),
    )
  )._unsafeUnwrap();
}

describe("validateSpec", () => {
  it("accepts a complete spec", async () => {
    const spec = await container();
    expect(validateSpec(spec)._unsafeUnwrap()).toBe(spec);
  });

  it.each<[string, (s: Spec) => void, string]>([
    ["no args", (s) => delete s.process?.args, "process.args"],
    ["no process", (s) => delete s.process, "no process"],
    ["relative cwd", (s) => Object.assign(s.process ?? {}, { cwd: "app" }), "cwd"],
    ["uid out of range", (s) => Object.assign(s.process?.user ?? {}, { uid: 2 ** 31 }), "uid"],
    ["negative extra gid", (s) => Object.assign(s.process?.user ?? {}, { additionalGids: [-1] }), "additionalGids"],
    ["no root", (s) => delete s.root, "root.path"],
    ["relative mount", (s) => s.mounts?.push({ destination: "data" }), "mount destination"],
    ["duplicate namespace", (s) => s.linux?.namespaces?.push({ type: "pid" }), "twice"],
    ["old version", (s) => Object.assign(s, { ociVersion: "0.9" }), "ociVersion"],
  ])("rejects %s", async (_name, breakIt, message) => {
    const spec = await container();
    breakIt(spec);
    const e = validateSpec(spec)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidArgument");
    expect(e.message).toContain(message);
  });

  it("rejects a hostname without a private UTS namespace", async () => {
    const spec = (
      await applySpecOpts(await container(), ctx, withHostname("h"), withHostNamespace("uts"))
    )._unsafeUnwrap();
    expect(validateSpec(spec)._unsafeUnwrapErr().message).toContain("UTS");
  });
});

describe("execProcess", () => {
  it("derives the exec from the container's process like ctr task exec", async () => {
    const spec = await container();
    const p = execProcess(spec, { args: ["sh", "-c", "id"], env: ["A=2", "B=3"], cwd: "/tmp" })._unsafeUnwrap();
    expect(p.args).toEqual(["sh", "-c", "id"]);
    expect(p.env).toEqual(["PATH=/bin", "A=2", "B=3"]);
    expect(p.cwd).toBe("/tmp");
    expect(p.user).toEqual(spec.process?.user);
    expect(p.capabilities).toEqual(spec.process?.capabilities);
    expect(p.rlimits).toEqual(spec.process?.rlimits);
    expect(p.noNewPrivileges).toBe(true);
    expect(p.terminal).toBeUndefined();
    expect(spec.process?.args).toEqual(["sleep", "60"]);
  });

  it("supports a terminal and another user", async () => {
    const p = execProcess(await container(), {
      args: ["sh"],
      terminal: true,
      consoleSize: { width: 100, height: 30 },
      user: { uid: 0, gid: 0 },
    })._unsafeUnwrap();
    expect(p.terminal).toBe(true);
    expect(p.consoleSize).toEqual({ width: 100, height: 30 });
    expect(p.env).toContain("TERM=xterm");
    expect(p.user).toEqual({ uid: 0, gid: 0 });
  });

  it("rejects an empty command, a relative cwd, a bad user and a spec without a process", async () => {
    const spec = await container();
    expect(execProcess(spec, { args: [] })._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(execProcess(spec, { args: ["x"], cwd: "tmp" })._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(execProcess(spec, { args: ["x"], user: { uid: -1, gid: 0 } })._unsafeUnwrapErr().code).toBe(
      "InvalidArgument",
    );
    expect(execProcess({ ociVersion: "1.1.0" }, { args: ["x"] })._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });
});
