import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakePluginDir, fakePluginDir } from "../test/fake-plugins.js";
import { decodeVersionInfo, probeVersion } from "./probe-version.js";

let fake: FakePluginDir;

beforeEach(() => {
  fake = fakePluginDir();
});

afterEach(() => {
  fake.remove();
});

describe("probeVersion", () => {
  it("runs VERSION with only CNI_COMMAND and CNI_PATH and the 1.1.0 probe on stdin", async () => {
    const envFile = join(fake.dir, "env.out");
    const stdinFile = join(fake.dir, "stdin.out");
    fake.add(
      "vplug",
      `env > "${envFile}"; cat > "${stdinFile}"; echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}'`,
    );
    const info = (await probeVersion("vplug", { cniPath: ["/nonexistent", fake.dir] }))._unsafeUnwrap();
    expect(info).toEqual({
      cniVersion: "1.1.0",
      supportedVersions: ["0.4.0", "1.0.0", "1.1.0"],
      path: join(fake.dir, "vplug"),
    });
    expect(readFileSync(stdinFile, "utf8")).toBe('{"cniVersion":"1.1.0"}');
    const env = readFileSync(envFile, "utf8")
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("PWD="))
      .sort();
    expect(env).toEqual(["CNI_COMMAND=VERSION", `CNI_PATH=/nonexistent:${fake.dir}`]);
  });

  it("fails with PluginNotFound naming the directories", async () => {
    const e = (await probeVersion("absent", { cniPath: `${fake.dir}:/nonexistent` }))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "PluginNotFound", plugin: "absent", details: `${fake.dir}:/nonexistent` });
  });

  it("passes a plugin's error through", async () => {
    fake.add("p", `echo '{"code":4,"msg":"bad env"}'; exit 1`);
    const e = (await probeVersion("p", { cniPath: fake.dir }))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidEnvironment", cniCode: 4, plugin: "p" });
  });

  it("treats a plugin that predates VERSION as supporting 0.1.0", async () => {
    fake.add("old", `echo '{"code":100,"msg":"unknown CNI_COMMAND: VERSION"}'; exit 1`);
    expect((await probeVersion("old", { cniPath: fake.dir }))._unsafeUnwrap()).toEqual({
      cniVersion: "0.1.0",
      supportedVersions: ["0.1.0"],
      path: join(fake.dir, "old"),
    });
  });

  it("does not take a similar message with details for the legacy answer", async () => {
    fake.add("old", `echo '{"code":100,"msg":"unknown CNI_COMMAND: VERSION","details":"x"}'; exit 1`);
    expect((await probeVersion("old", { cniPath: fake.dir }))._unsafeUnwrapErr().code).toBe("PluginSpecific");
  });

  it("reports garbage as InvalidResult", async () => {
    fake.add("junk", "echo hello");
    const e = (await probeVersion("junk", { cniPath: fake.dir }))._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidResult");
  });

  it("times out and aborts", async () => {
    fake.add("hang", "exec sleep 30");
    expect((await probeVersion("hang", { cniPath: fake.dir, timeoutMs: 200 }))._unsafeUnwrapErr().code).toBe("Timeout");
    const marker = join(fake.dir, "ran");
    fake.add("never", `touch "${marker}"`);
    const e = (await probeVersion("never", { cniPath: fake.dir, signal: AbortSignal.abort() }))._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
    expect(existsSync(marker)).toBe(false);
  });
});

describe("decodeVersionInfo (libcni's PluginDecoder rules)", () => {
  it("accepts a full answer", () => {
    expect(decodeVersionInfo({ cniVersion: "1.0.0", supportedVersions: ["1.0.0"] }, "p", "/p")._unsafeUnwrap()).toEqual(
      {
        cniVersion: "1.0.0",
        supportedVersions: ["1.0.0"],
        path: "/p",
      },
    );
  });

  it("fills in 0.1.0 and 0.2.0 for a 0.2.0 plugin without supportedVersions", () => {
    for (const supportedVersions of [undefined, null, []]) {
      expect(
        decodeVersionInfo({ cniVersion: "0.2.0", supportedVersions }, "p", "/p")._unsafeUnwrap().supportedVersions,
      ).toEqual(["0.1.0", "0.2.0"]);
    }
  });

  it.each<[string, unknown]>([
    ["not an object", ["1.0.0"]],
    ["no cniVersion", { supportedVersions: ["1.0.0"] }],
    ["an empty cniVersion", { cniVersion: "", supportedVersions: ["1.0.0"] }],
    ["a numeric cniVersion", { cniVersion: 1, supportedVersions: ["1.0.0"] }],
    ["no supportedVersions after 0.2.0", { cniVersion: "0.3.0" }],
    ["a string supportedVersions", { cniVersion: "1.0.0", supportedVersions: "1.0.0" }],
    ["non-string entries", { cniVersion: "1.0.0", supportedVersions: ["1.0.0", 1] }],
  ])("rejects %s as InvalidResult", (_label, output) => {
    const e = decodeVersionInfo(output, "p", "/p")._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidResult", plugin: "p" });
    expect(e.message).toContain("is /p a CNI plugin?");
  });
});
