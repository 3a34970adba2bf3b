import { describe, expect, it } from "vitest";
import { applySpecOpts, type SpecOpt } from "./build.js";
import { DEFAULT_CAPABILITIES, defaultSpec, KNOWN_CAPABILITIES } from "./defaults.js";
import { withSysctls } from "./options.js";
import {
  capabilitiesFromMask,
  currentCapabilities,
  normalizeCapabilities,
  withAddedCapabilities,
  withAllDevicesAllowed,
  withAmbientCapabilities,
  withCapabilities,
  withDroppedCapabilities,
  withLinuxDevices,
  withoutSeccomp,
  withPrivileged,
  withSeccomp,
} from "./security.js";

const ctx = { namespace: "test", id: "s1" };
const run = (...opts: SpecOpt[]) => applySpecOpts(defaultSpec(ctx), ctx, ...opts);

describe("capabilities", () => {
  it("normalizes names and expands ALL", () => {
    expect(normalizeCapabilities("t", ["net_admin", "CAP_SYS_ADMIN", "NET_ADMIN"])._unsafeUnwrap()).toEqual([
      "CAP_NET_ADMIN",
      "CAP_SYS_ADMIN",
    ]);
    expect(normalizeCapabilities("t", ["all"])._unsafeUnwrap()).toEqual(KNOWN_CAPABILITIES);
    expect(normalizeCapabilities("t", ["CAP_FLY"])._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withAddedCapabilities adds to bounding, effective and permitted once", async () => {
    const caps = (await run(withAddedCapabilities(["NET_ADMIN", "CAP_CHOWN"])))._unsafeUnwrap().process?.capabilities;
    for (const set of [caps?.bounding, caps?.effective, caps?.permitted]) {
      expect(set).toEqual([...DEFAULT_CAPABILITIES, "CAP_NET_ADMIN"]);
    }
  });

  it("withDroppedCapabilities removes from every set; ALL empties them", async () => {
    const caps = (await run(withDroppedCapabilities(["NET_RAW"])))._unsafeUnwrap().process?.capabilities;
    expect(caps?.bounding).not.toContain("CAP_NET_RAW");
    expect(caps?.bounding).toHaveLength(DEFAULT_CAPABILITIES.length - 1);
    const none = (await run(withDroppedCapabilities(["ALL"])))._unsafeUnwrap().process?.capabilities;
    expect(none).toEqual({ bounding: [], effective: [], permitted: [] });
  });

  it("withCapabilities replaces the sets", async () => {
    const caps = (await run(withCapabilities(["KILL"])))._unsafeUnwrap().process?.capabilities;
    expect(caps).toEqual({ bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] });
    expect((await run(withCapabilities(["BOGUS"])))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("decodes CapEff masks", () => {
    expect(capabilitiesFromMask("0000000000000000")).toEqual([]);
    expect(capabilitiesFromMask("00000000a80425fb")).toEqual([
      "CAP_CHOWN",
      "CAP_DAC_OVERRIDE",
      "CAP_FOWNER",
      "CAP_FSETID",
      "CAP_KILL",
      "CAP_SETGID",
      "CAP_SETUID",
      "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE",
      "CAP_NET_RAW",
      "CAP_SYS_CHROOT",
      "CAP_MKNOD",
      "CAP_AUDIT_WRITE",
      "CAP_SETFCAP",
    ]);
    expect(capabilitiesFromMask("000001ffffffffff")).toEqual(KNOWN_CAPABILITIES);
    expect(capabilitiesFromMask("0000ffffffffffff")).toEqual(KNOWN_CAPABILITIES);
  });

  it("reads this process's capabilities", async () => {
    const caps = (await currentCapabilities())._unsafeUnwrap();
    for (const c of caps) expect(KNOWN_CAPABILITIES).toContain(c);
  });
});

describe("withPrivileged", () => {
  it("lifts the confinement as containerd's WithPrivileged + WithAllDevicesAllowed", async () => {
    const current = (await currentCapabilities())._unsafeUnwrap();
    const spec = (
      await run(
        withSeccomp({ defaultAction: "SCMP_ACT_ERRNO" }),
        withSysctls({ "kernel.shmmax": "1" }),
        withPrivileged(),
      )
    )._unsafeUnwrap();
    expect(spec.process?.capabilities?.bounding).toEqual(current);
    expect(spec.process?.capabilities?.effective).toEqual(current);
    expect(spec.linux?.maskedPaths).toBeUndefined();
    expect(spec.linux?.readonlyPaths).toBeUndefined();
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.mounts?.find((m) => m.type === "sysfs")?.options).toEqual(["nosuid", "noexec", "nodev", "rw"]);
    expect(spec.linux?.resources?.devices).toEqual([{ allow: true, access: "rwm" }]);
    expect(spec.linux?.sysctl).toEqual({ "kernel.shmmax": "1" });
  });

  it("can keep the device rules", async () => {
    const spec = (await run(withPrivileged({ allDevices: false })))._unsafeUnwrap();
    expect(spec.linux?.resources?.devices?.[0]).toEqual({ allow: false, access: "rwm" });
  });
});

describe("seccomp and devices", () => {
  it("withSeccomp sets a profile; withoutSeccomp removes it", async () => {
    const profile = {
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: ["reboot"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    };
    expect((await run(withSeccomp(profile)))._unsafeUnwrap().linux?.seccomp).toEqual(profile);
    expect((await run(withSeccomp(profile), withoutSeccomp()))._unsafeUnwrap().linux?.seccomp).toBeUndefined();
    expect((await run(withSeccomp({ defaultAction: "allow" })))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withLinuxDevices creates nodes and allows them in the device cgroup", async () => {
    const spec = (
      await run(withLinuxDevices([{ path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666 }], "rw"))
    )._unsafeUnwrap();
    expect(spec.linux?.devices).toEqual([{ path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666 }]);
    expect(spec.linux?.resources?.devices?.at(-1)).toEqual({
      allow: true,
      type: "c",
      major: 10,
      minor: 229,
      access: "rw",
    });
    expect(
      (await run(withLinuxDevices([{ path: "/fuse", type: "c", major: 1, minor: 1 }])))._unsafeUnwrapErr().code,
    ).toBe("InvalidArgument");
    expect((await run(withLinuxDevices([], "x")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withAllDevicesAllowed replaces the rules with allow-all", async () => {
    expect((await run(withAllDevicesAllowed()))._unsafeUnwrap().linux?.resources?.devices).toEqual([
      { allow: true, access: "rwm" },
    ]);
  });
});

describe("withAmbientCapabilities", () => {
  it("sets the inheritable and ambient sets", async () => {
    const caps = (await run(withAmbientCapabilities(["NET_BIND_SERVICE"])))._unsafeUnwrap().process?.capabilities;
    expect(caps?.ambient).toEqual(["CAP_NET_BIND_SERVICE"]);
    expect(caps?.inheritable).toEqual(["CAP_NET_BIND_SERVICE"]);
    const dropped = (
      await run(withAmbientCapabilities(["NET_BIND_SERVICE"]), withDroppedCapabilities(["ALL"]))
    )._unsafeUnwrap();
    expect(dropped.process?.capabilities?.ambient).toEqual([]);
  });
});
