import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { err, errAsync, ok } from "neverthrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerdError } from "../errors.js";
import { applySpecOpts, buildSpec, composeSpecOpts, type SpecContext, type SpecOpt } from "./build.js";
import { defaultSpec } from "./defaults.js";
import {
  mergeEnv,
  withAdditionalGroups,
  withAnnotations,
  withApparmorProfile,
  withArgs,
  withBindMount,
  withCgroupsPath,
  withCwd,
  withDevShmSize,
  withEnv,
  withHostNamespace,
  withHostNetwork,
  withHostname,
  withMaskedPaths,
  withMounts,
  withNamespacePath,
  withNetworkNamespacePath,
  withNoNewPrivileges,
  withOomScoreAdj,
  withoutMounts,
  withReadonlyPaths,
  withReadonlyRootfs,
  withRlimit,
  withRootfsPath,
  withSysctls,
  withTty,
  withUidGid,
  withUmask,
  withUser,
  withUserNamespace,
} from "./options.js";
import type { Spec } from "./types.js";

const ctx: SpecContext = { namespace: "test", id: "c1" };
const base = (): Spec => defaultSpec(ctx);

/** Applies one option to the default spec and returns the result (throws on error: test helper). */
async function apply(...opts: SpecOpt[]): Promise<Spec> {
  return (await applySpecOpts(base(), ctx, ...opts))._unsafeUnwrap();
}

async function fails(opt: SpecOpt, context: SpecContext = ctx): Promise<ContainerdError> {
  return (await applySpecOpts(base(), context, opt))._unsafeUnwrapErr();
}

describe("buildSpec", () => {
  it("starts from containerd's default and applies options in order", async () => {
    const spec = (await buildSpec(ctx, withArgs("sh"), withArgs("true"), withHostname("h")))._unsafeUnwrap();
    expect(spec.process?.args).toEqual(["true"]);
    expect(spec.hostname).toBe("h");
    expect(spec.linux?.cgroupsPath).toBe("/test/c1");
  });

  it("validates namespace and id", async () => {
    expect((await buildSpec({ namespace: "bad ns", id: "x" }))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await buildSpec({ namespace: "ns", id: "" }))._unsafeUnwrapErr().message).toContain("container id");
  });

  it("stops at the first failing option and returns its error", async () => {
    let ran = false;
    const later: SpecOpt = (s) => {
      ran = true;
      return s;
    };
    const e = (await buildSpec(ctx, withCwd("relative"), later))._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidArgument");
    expect(e.message).toContain("withCwd");
    expect(ran).toBe(false);
  });

  it("accepts options returning a Spec, a Result, a ResultAsync or a Promise", async () => {
    const plain: SpecOpt = (s) => ({ ...s, hostname: "a" });
    const result: SpecOpt = (s) => ok({ ...s, hostname: `${s.hostname}b` });
    const promise: SpecOpt = async (s) => ok({ ...s, hostname: `${s.hostname}c` });
    const spec = (await buildSpec(ctx, plain, result, promise))._unsafeUnwrap();
    expect(spec.hostname).toBe("abc");
    const failing: SpecOpt = () => errAsync(new ContainerdError("NotFound", "nope"));
    expect((await buildSpec(ctx, failing))._unsafeUnwrapErr().code).toBe("NotFound");
    const failingSync: SpecOpt = () => err(new ContainerdError("FailedPrecondition", "nope"));
    expect((await buildSpec(ctx, failingSync))._unsafeUnwrapErr().code).toBe("FailedPrecondition");
  });

  it("turns a throwing option into an Unknown error instead of rejecting", async () => {
    const throwing: SpecOpt = () => {
      throw new Error("boom");
    };
    const rejecting: SpecOpt = () => Promise.reject(new Error("later boom"));
    const e = (await buildSpec(ctx, throwing))._unsafeUnwrapErr();
    expect(e.code).toBe("Unknown");
    expect(e.message).toContain("boom");
    expect((await buildSpec(ctx, rejecting))._unsafeUnwrapErr().message).toContain("later boom");
  });

  it("is canceled by an aborted signal", async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await buildSpec({ ...ctx, signal: ac.signal }, withArgs("x")))._unsafeUnwrapErr().code).toBe("Canceled");
  });

  it("composes options and never modifies its input", async () => {
    const input = base();
    const snapshot = structuredClone(input);
    const both = composeSpecOpts(withArgs("a"), withEnv(["X=1"]), withReadonlyRootfs(), withAnnotations({ k: "v" }));
    const out = (await applySpecOpts(input, ctx, both))._unsafeUnwrap();
    expect(input).toEqual(snapshot);
    expect(out.process?.args).toEqual(["a"]);
    expect(out.root?.readonly).toBe(true);
  });
});

describe("process options", () => {
  it("withArgs sets argv and requires a program", async () => {
    expect((await apply(withArgs("sh", "-c", "echo hi"))).process?.args).toEqual(["sh", "-c", "echo hi"]);
    expect((await fails(withArgs())).code).toBe("InvalidArgument");
  });

  it("mergeEnv replaces by key, appends new keys and unsets bare keys, like containerd", () => {
    expect(mergeEnv(["A=1", "B=2", "C=3"], ["B=20", "D=4", "A", "E=x=y"])).toEqual(["B=20", "C=3", "D=4", "E=x=y"]);
    expect(mergeEnv([], ["A"])).toEqual([]);
    expect(mergeEnv(["A=1"], ["A", "A=2"])).toEqual(["A=2"]);
  });

  it("withEnv takes arrays or records and rejects empty keys", async () => {
    const spec = await apply(withEnv(["A=1"]), withEnv({ B: "2", A: "3" }));
    expect(spec.process?.env).toEqual(["A=3", "B=2"]);
    expect((await fails(withEnv(["=x"]))).code).toBe("InvalidArgument");
  });

  it("withCwd needs an absolute path", async () => {
    expect((await apply(withCwd("/app"))).process?.cwd).toBe("/app");
    expect((await fails(withCwd("app"))).code).toBe("InvalidArgument");
  });

  it("withTty sets terminal, TERM and the size", async () => {
    const spec = await apply(withEnv(["TERM=dumb"]), withTty({ width: 80, height: 24 }));
    expect(spec.process?.terminal).toBe(true);
    expect(spec.process?.env).toEqual(["TERM=xterm"]);
    expect(spec.process?.consoleSize).toEqual({ width: 80, height: 24 });
  });

  it("withUidGid sets numeric ids and the supplementary list, keeping the umask", async () => {
    const spec = await apply(withUmask(0o027), withUidGid(65534, 65534));
    expect(spec.process?.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534], umask: 0o027 });
    expect((await fails(withUidGid(-1, 0))).code).toBe("InvalidArgument");
    expect((await fails(withUidGid(2 ** 31, 0))).code).toBe("InvalidArgument");
    expect((await fails(withUmask(0o1000))).code).toBe("InvalidArgument");
  });

  it("withRlimit adds or replaces by type and checks soft <= hard", async () => {
    const spec = await apply(
      withRlimit({ type: "RLIMIT_NOFILE", soft: 4096, hard: 8192 }),
      withRlimit({ type: "RLIMIT_NPROC", soft: 100, hard: 100 }),
    );
    expect(spec.process?.rlimits).toEqual([
      { type: "RLIMIT_NOFILE", hard: 8192, soft: 4096 },
      { type: "RLIMIT_NPROC", hard: 100, soft: 100 },
    ]);
    expect((await fails(withRlimit({ type: "NOFILE", soft: 1, hard: 1 }))).code).toBe("InvalidArgument");
    expect((await fails(withRlimit({ type: "RLIMIT_NOFILE", soft: 2, hard: 1 }))).code).toBe("InvalidArgument");
  });

  it("withNoNewPrivileges, withOomScoreAdj and withApparmorProfile", async () => {
    const spec = await apply(withNoNewPrivileges(false), withOomScoreAdj(-500), withApparmorProfile("berth-default"));
    expect(spec.process?.noNewPrivileges).toBe(false);
    expect(spec.process?.oomScoreAdj).toBe(-500);
    expect(spec.process?.apparmorProfile).toBe("berth-default");
    expect((await apply(withApparmorProfile("x"), withApparmorProfile(""))).process?.apparmorProfile).toBeUndefined();
    expect((await fails(withOomScoreAdj(1001))).code).toBe("InvalidArgument");
  });
});

describe("user options with an image root filesystem", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "berth-spec-opts-"));
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\naudio:x:29:nobody\nvideo:x:44:\nnogroup:x:65534:\n");
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("withUser resolves names from the context's rootfs", async () => {
    const spec = (await buildSpec({ ...ctx, rootfs: root }, withUser("nobody")))._unsafeUnwrap();
    expect(spec.process?.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534, 29] });
  });

  it("withUser falls back to an absolute root.path, as containerd does", async () => {
    const spec = (await buildSpec(ctx, withRootfsPath(root), withUser("nobody:audio")))._unsafeUnwrap();
    expect(spec.process?.user).toMatchObject({ uid: 65534, gid: 29 });
  });

  it("withUser reports a missing user as NotFound and a missing rootfs as InvalidArgument", async () => {
    const missing = (await buildSpec({ ...ctx, rootfs: root }, withUser("ghost")))._unsafeUnwrapErr();
    expect(missing.code).toBe("NotFound");
    expect((await buildSpec(ctx, withUser("nobody")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await buildSpec(ctx, withUser("1:2")))._unsafeUnwrap().process?.user).toMatchObject({ uid: 1, gid: 2 });
  });

  it("withAdditionalGroups appends named and numeric groups once", async () => {
    const spec = (
      await buildSpec({ ...ctx, rootfs: root }, withUser("nobody"), withAdditionalGroups("video", "29", "7"))
    )._unsafeUnwrap();
    expect(spec.process?.user.additionalGids).toEqual([65534, 29, 44, 7]);
    expect((await buildSpec({ ...ctx, rootfs: root }, withAdditionalGroups("nope")))._unsafeUnwrapErr().code).toBe(
      "NotFound",
    );
  });
});

describe("filesystem options", () => {
  it("withRootfsPath and withReadonlyRootfs", async () => {
    expect((await apply(withRootfsPath("/srv/root"), withReadonlyRootfs())).root).toEqual({
      path: "/srv/root",
      readonly: true,
    });
    expect((await apply(withReadonlyRootfs(), withReadonlyRootfs(false))).root).toEqual({ path: "rootfs" });
    expect((await fails(withRootfsPath(""))).code).toBe("InvalidArgument");
  });

  it("withBindMount builds rbind mounts with ro/rw, propagation and extra options", async () => {
    const spec = await apply(
      withBindMount({ source: "/data", destination: "/mnt/data", readonly: true, propagation: "rprivate" }),
      withBindMount({ source: "/tmp/x", destination: "/x", recursive: false, options: ["nosuid"] }),
    );
    expect(spec.mounts?.slice(-2)).toEqual([
      { destination: "/mnt/data", type: "bind", source: "/data", options: ["rbind", "ro", "rprivate"] },
      { destination: "/x", type: "bind", source: "/tmp/x", options: ["bind", "rw", "nosuid"] },
    ]);
    expect((await fails(withBindMount({ source: "data", destination: "/d" }))).code).toBe("InvalidArgument");
    expect((await fails(withBindMount({ source: "/data", destination: "d" }))).code).toBe("InvalidArgument");
  });

  it("withMounts appends copies; withoutMounts removes by destination", async () => {
    const m = { destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["size=1m"] };
    const spec = await apply(withMounts([m]), withoutMounts("/run", "/dev/mqueue/"));
    m.options.push("mutated");
    const dests = spec.mounts?.map((x) => x.destination);
    expect(dests).toContain("/scratch");
    expect(dests).not.toContain("/run");
    expect(dests).not.toContain("/dev/mqueue");
    expect(spec.mounts?.find((x) => x.destination === "/scratch")?.options).toEqual(["size=1m"]);
    expect((await fails(withMounts([{ destination: "rel" }]))).code).toBe("InvalidArgument");
  });

  it("withDevShmSize resizes /dev/shm", async () => {
    const spec = await apply(withDevShmSize(131072));
    expect(spec.mounts?.find((m) => m.destination === "/dev/shm")?.options).toEqual([
      "nosuid",
      "noexec",
      "nodev",
      "mode=1777",
      "size=131072k",
    ]);
    expect(
      (await applySpecOpts(base(), ctx, withoutMounts("/dev/shm"), withDevShmSize(1)))._unsafeUnwrapErr().code,
    ).toBe("InvalidArgument");
  });
});

describe("namespace and linux options", () => {
  it("withHostname sets the name and needs a private UTS namespace", async () => {
    expect((await apply(withHostname("web-1.local"))).hostname).toBe("web-1.local");
    expect((await fails(withHostname("-bad"))).code).toBe("InvalidArgument");
    expect((await apply(withHostname("x".repeat(64)))).hostname).toHaveLength(64);
    expect((await fails(withHostname("x".repeat(65)))).code).toBe("InvalidArgument");
    const e = (await applySpecOpts(base(), ctx, withHostNamespace("uts"), withHostname("h")))._unsafeUnwrapErr();
    expect(e.message).toContain("UTS");
  });

  it("withNetworkNamespacePath joins a pre-made namespace in place of a new one", async () => {
    const spec = await apply(withNetworkNamespacePath("/var/run/netns/task-1"));
    expect(spec.linux?.namespaces).toEqual([
      { type: "pid" },
      { type: "ipc" },
      { type: "uts" },
      { type: "mount" },
      { type: "network", path: "/var/run/netns/task-1" },
    ]);
    expect((await fails(withNetworkNamespacePath("netns/x"))).code).toBe("InvalidArgument");
    const added = await apply(withNamespacePath("cgroup", "/proc/1/ns/cgroup"));
    expect(added.linux?.namespaces?.at(-1)).toEqual({ type: "cgroup", path: "/proc/1/ns/cgroup" });
  });

  it("withHostNetwork drops the network namespace and adds hosts/resolv.conf and HOSTNAME", async () => {
    const spec = await apply(withHostNetwork());
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(["pid", "ipc", "uts", "mount"]);
    expect(spec.mounts?.slice(-2).map((m) => [m.destination, m.source, m.options])).toEqual([
      ["/etc/hosts", "/etc/hosts", ["rbind", "ro"]],
      ["/etc/resolv.conf", "/etc/resolv.conf", ["rbind", "ro"]],
    ]);
    expect(spec.process?.env).toEqual([`HOSTNAME=${hostname()}`]);
  });

  it("withUserNamespace adds the namespace once and appends mappings", async () => {
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const spec = await apply(
      withUserNamespace(map, map),
      withUserNamespace([], [{ containerID: 1, hostID: 2, size: 3 }]),
    );
    expect(spec.linux?.namespaces?.filter((n) => n.type === "user")).toHaveLength(1);
    expect(spec.linux?.uidMappings).toEqual(map);
    expect(spec.linux?.gidMappings).toHaveLength(2);
    expect((await fails(withUserNamespace([{ containerID: -1, hostID: 0, size: 1 }], []))).code).toBe(
      "InvalidArgument",
    );
  });

  it("withCgroupsPath, withSysctls, withAnnotations, masked and read-only paths", async () => {
    const spec = await apply(
      withCgroupsPath("system.slice:berth:c1"),
      withSysctls({ "net.ipv4.ip_unprivileged_port_start": "0" }),
      withSysctls({ "kernel.msgmax": "65536" }),
      withAnnotations({ a: "1" }),
      withAnnotations({ a: "2", b: "3" }),
      withMaskedPaths([]),
      withReadonlyPaths(["/proc/sys"]),
    );
    expect(spec.linux?.cgroupsPath).toBe("system.slice:berth:c1");
    expect(spec.linux?.sysctl).toEqual({ "net.ipv4.ip_unprivileged_port_start": "0", "kernel.msgmax": "65536" });
    expect(spec.annotations).toEqual({ a: "2", b: "3" });
    expect(spec.linux?.maskedPaths).toEqual([]);
    expect(spec.linux?.readonlyPaths).toEqual(["/proc/sys"]);
    expect((await fails(withSysctls({ "not a sysctl": "1" }))).code).toBe("InvalidArgument");
  });
});
