import { describe, expect, it } from "vitest";
import { CNI_SPEC_VERSION, compareVersions, KNOWN_SPEC_VERSIONS, negotiateVersion, parseVersion } from "./version.js";

describe("parseVersion", () => {
  it.each([
    ["1.1.0", [1, 1, 0]],
    ["0.3.1", [0, 3, 1]],
    ["1.0", [1, 0, 0]],
    ["1", [1, 0, 0]],
    ["", [0, 1, 0]],
    ["10.20.30", [10, 20, 30]],
  ])("%j", (text, [major, minor, patch]) => {
    expect(parseVersion(text)._unsafeUnwrap()).toEqual({ major, minor, patch });
  });

  it.each(["1.0.0.0", "v1.0.0", "1.x", "1..0", " 1.0.0", "-1.0.0", "+1", "1.0.0-rc1", "abc"])("rejects %j", (text) => {
    const e = parseVersion(text)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidConfig");
    expect(e.message).toContain(JSON.stringify(text));
  });
});

describe("compareVersions", () => {
  it("orders every released version", () => {
    for (let i = 0; i < KNOWN_SPEC_VERSIONS.length - 1; i++) {
      const a = KNOWN_SPEC_VERSIONS[i] ?? "";
      const b = KNOWN_SPEC_VERSIONS[i + 1] ?? "";
      expect(compareVersions(a, b)._unsafeUnwrap()).toBe(-1);
      expect(compareVersions(b, a)._unsafeUnwrap()).toBe(1);
    }
    expect(KNOWN_SPEC_VERSIONS.at(-1)).toBe(CNI_SPEC_VERSION);
  });

  it("compares numerically, not as text", () => {
    expect(compareVersions("0.10.0", "0.9.0")._unsafeUnwrap()).toBe(1);
    expect(compareVersions("1", "1.0.0")._unsafeUnwrap()).toBe(0);
    expect(compareVersions("", "0.1.0")._unsafeUnwrap()).toBe(0);
  });

  it("fails on a bad version", () => {
    expect(compareVersions("1.0.0", "one")._unsafeUnwrapErr().code).toBe("InvalidConfig");
  });
});

describe("negotiateVersion", () => {
  it.each([
    ["cniVersion only", { cniVersion: "0.4.0" }, "0.4.0"],
    ["highest of cniVersions", { cniVersion: "", cniVersions: ["0.3.1", "1.1.0", "1.0.0"] }, "1.1.0"],
    ["cniVersion higher than the list", { cniVersion: "1.0.0", cniVersions: ["0.3.1", "0.4.0"] }, "1.0.0"],
    ["skips versions above 1.1.0", { cniVersion: "1.0.0", cniVersions: ["1.2.0", "2.0.0"] }, "1.0.0"],
    ["skips a cniVersion above 1.1.0", { cniVersion: "1.5.0", cniVersions: ["0.4.0"] }, "0.4.0"],
    ["keeps the text as written", { cniVersion: "1.1" }, "1.1"],
    ["no version at all means 0.1.0", { cniVersion: "" }, "0.1.0"],
  ])("%s", (_label, config, want) => {
    expect(negotiateVersion(config)._unsafeUnwrap()).toBe(want);
  });

  it("honours a lower library maximum", () => {
    expect(
      negotiateVersion({ cniVersion: "", cniVersions: ["0.4.0", "1.0.0", "1.1.0"] }, "1.0.0")._unsafeUnwrap(),
    ).toBe("1.0.0");
  });

  it("fails with IncompatibleVersion when every version is too new", () => {
    const e = negotiateVersion({ name: "n1", cniVersion: "1.2.0", cniVersions: ["2.0.0"] })._unsafeUnwrapErr();
    expect(e.code).toBe("IncompatibleVersion");
    expect(e.network).toBe("n1");
    expect(e.message).toContain('"2.0.0", "1.2.0"');
    expect(e.message).toContain(CNI_SPEC_VERSION);
  });

  it("fails with InvalidConfig on a malformed version", () => {
    const e = negotiateVersion({ name: "n1", cniVersion: "1.0.0", cniVersions: ["one"] })._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidConfig");
    expect(e.message).toContain('network "n1"');
  });
});
