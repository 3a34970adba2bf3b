import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applySpecOpts } from "./build.js";
import { defaultSpec } from "./defaults.js";
import { deviceFromPath, hostDevices, splitDeviceNumber, withDevice, withHostDevices } from "./devices.js";

const ctx = { namespace: "test", id: "d1" };

describe("splitDeviceNumber", () => {
  it("decodes dev_t as glibc does, including large majors and minors", () => {
    expect(splitDeviceNumber(0x0103n)).toEqual({ major: 1, minor: 3 });
    expect(splitDeviceNumber(0x8800n)).toEqual({ major: 136, minor: 0 });
    // major 259 (0x103), minor 300 (0x12c): minor low byte in bits 0-7, the rest from bit 20.
    expect(splitDeviceNumber((0x103n << 8n) | 0x2cn | (0x1n << 20n))).toEqual({ major: 259, minor: 300 });
    expect(splitDeviceNumber(0x1000_0000_0000n)).toEqual({ major: 4096, minor: 0 });
  });
});

describe("host devices", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-spec-dev-"));
    writeFileSync(join(dir, "regular"), "");
    mkdirSync(join(dir, "pts"));
    symlinkSync("/dev/null", join(dir, "null-link"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("describes /dev/null", async () => {
    const dev = (await deviceFromPath("/dev/null"))._unsafeUnwrap();
    expect(dev).toMatchObject({ path: "/dev/null", type: "c", major: 1, minor: 3, uid: 0, gid: 0 });
    expect(dev.fileMode).toBe(0o666);
  });

  it("refuses non-devices and symlinks, and reports missing paths as NotFound", async () => {
    expect((await deviceFromPath(join(dir, "regular")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await deviceFromPath(join(dir, "null-link")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await deviceFromPath(join(dir, "missing")))._unsafeUnwrapErr().code).toBe("NotFound");
  });

  it("lists /dev without pts, shm and the console", async () => {
    const devices = (await hostDevices())._unsafeUnwrap();
    const paths = devices.map((d) => d.path);
    expect(paths).toContain("/dev/null");
    expect(paths).toContain("/dev/zero");
    expect(paths.some((p) => p.startsWith("/dev/pts/"))).toBe(false);
    expect(paths).not.toContain("/dev/console");
    expect(devices.every((d) => d.type === "c" || d.type === "b")).toBe(true);
  });

  it("finds no devices in a directory of plain files", async () => {
    expect((await hostDevices(dir))._unsafeUnwrap()).toEqual([]);
  });

  it("withHostDevices adds nodes without touching the cgroup rules", async () => {
    const spec = (await applySpecOpts(defaultSpec(ctx), ctx, withHostDevices()))._unsafeUnwrap();
    expect(spec.linux?.devices?.some((d) => d.path === "/dev/null")).toBe(true);
    expect(spec.linux?.resources?.devices).toEqual(defaultSpec(ctx).linux?.resources?.devices);
  });

  it("withDevice adds one device under another name with its cgroup rule", async () => {
    const spec = (
      await applySpecOpts(defaultSpec(ctx), ctx, withDevice("/dev/zero", "/dev/berth-zero", "r"))
    )._unsafeUnwrap();
    expect(spec.linux?.devices).toEqual([
      expect.objectContaining({ path: "/dev/berth-zero", type: "c", major: 1, minor: 5 }),
    ]);
    expect(spec.linux?.resources?.devices?.at(-1)).toEqual({ allow: true, type: "c", major: 1, minor: 5, access: "r" });
  });

  it("withDevice fails clearly", async () => {
    const run = (opt: ReturnType<typeof withDevice>) => applySpecOpts(defaultSpec(ctx), ctx, opt);
    expect((await run(withDevice("/dev/berth-missing")))._unsafeUnwrapErr().code).toBe("NotFound");
    expect((await run(withDevice("dev/null")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await run(withDevice("/dev/null", undefined, "x")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await run(withDevice(dir)))._unsafeUnwrapErr().message).toContain("no device nodes");
  });
});
