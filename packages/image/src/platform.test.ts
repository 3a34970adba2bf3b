import { describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformFromNode,
  platformMatches,
} from "./platform.js";

const host = hostPlatform();

describe("normalizePlatform", () => {
  it.each<readonly [Platform, Platform]>([
    [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "amd64" },
    ],
    [
      { os: "Linux", architecture: "x86_64" },
      { os: "linux", architecture: "amd64" },
    ],
    [
      { os: "linux", architecture: "x86-64" },
      { os: "linux", architecture: "amd64" },
    ],
    [
      { os: "linux", architecture: "amd64", variant: "v1" },
      { os: "linux", architecture: "amd64" },
    ],
    [
      { os: "linux", architecture: "amd64", variant: "v3" },
      { os: "linux", architecture: "amd64", variant: "v3" },
    ],
    [
      { os: "linux", architecture: "aarch64" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "AArch64" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "v8" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "8" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "aarch64", variant: "V8" },
      { os: "linux", architecture: "arm64" },
    ],
    [
      { os: "linux", architecture: "arm64", variant: "v9" },
      { os: "linux", architecture: "arm64", variant: "v9" },
    ],
    [
      { os: "linux", architecture: "armhf" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "armhf", variant: "v6" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "armel" },
      { os: "linux", architecture: "arm", variant: "v6" },
    ],
    [
      { os: "linux", architecture: "arm" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "arm", variant: "" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "arm", variant: "7" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ],
    [
      { os: "linux", architecture: "arm", variant: "6" },
      { os: "linux", architecture: "arm", variant: "v6" },
    ],
    [
      { os: "linux", architecture: "arm", variant: "5" },
      { os: "linux", architecture: "arm", variant: "v5" },
    ],
    [
      { os: "linux", architecture: "arm", variant: "8" },
      { os: "linux", architecture: "arm", variant: "v8" },
    ],
    [
      { os: "linux", architecture: "ARM", variant: "V6" },
      { os: "linux", architecture: "arm", variant: "v6" },
    ],
    [
      { os: "linux", architecture: "i386" },
      { os: "linux", architecture: "386" },
    ],
    [
      { os: "linux", architecture: "i386", variant: "i686" },
      { os: "linux", architecture: "386" },
    ],
    [
      { os: "LINUX", architecture: "ppc64le" },
      { os: "linux", architecture: "ppc64le" },
    ],
    [
      { os: "MacOS", architecture: "arm64" },
      { os: "darwin", architecture: "arm64" },
    ],
    [
      { os: "Windows", architecture: "AMD64", osVersion: "10.0.17763.5820" },
      { os: "windows", architecture: "amd64", osVersion: "10.0.17763.5820" },
    ],
    [
      { os: "windows", architecture: "amd64", osVersion: "", osFeatures: [] },
      { os: "windows", architecture: "amd64" },
    ],
    [
      { os: "windows", architecture: "amd64", osFeatures: ["win32k", "b", "win32k"] },
      { os: "windows", architecture: "amd64", osFeatures: ["b", "win32k"] },
    ],
  ])("%j -> %j", (input, want) => {
    expect(normalizePlatform(input)).toStrictEqual(want);
  });

  it("is idempotent and does not modify its input", () => {
    const input: Platform = { os: "Linux", architecture: "armhf", osFeatures: ["z", "a"] };
    const once = normalizePlatform(input);
    expect(normalizePlatform(once)).toStrictEqual(once);
    expect(input).toStrictEqual({ os: "Linux", architecture: "armhf", osFeatures: ["z", "a"] });
  });
});

describe("parsePlatform", () => {
  it.each<readonly [string, Platform]>([
    ["linux/amd64", { os: "linux", architecture: "amd64" }],
    ["linux/x86_64", { os: "linux", architecture: "amd64" }],
    ["linux/arm64", { os: "linux", architecture: "arm64" }],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64" }],
    ["linux/aarch64", { os: "linux", architecture: "arm64" }],
    ["linux/arm", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/arm/v7", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/arm/v6", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/armhf", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/armel", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/i386", { os: "linux", architecture: "386" }],
    ["linux/riscv64", { os: "linux", architecture: "riscv64" }],
    ["linux/s390x", { os: "linux", architecture: "s390x" }],
    ["Linux/AMD64", { os: "linux", architecture: "amd64" }],
    ["macos/arm64", { os: "darwin", architecture: "arm64" }],
    ["plan10/mystery", { os: "plan10", architecture: "mystery" }], // two parts: unknown names are accepted
    ["windows(10.0.17763)/amd64", { os: "windows", architecture: "amd64", osVersion: "10.0.17763" }],
    [
      "windows(10.0.17763+win32k)/amd64",
      { os: "windows", architecture: "amd64", osVersion: "10.0.17763", osFeatures: ["win32k"] },
    ],
    ["windows(+win32k+a)/amd64", { os: "windows", architecture: "amd64", osFeatures: ["a", "win32k"] }],
    ["windows()/amd64", { os: "windows", architecture: "amd64" }],
    ["linux(%2B1%28x%29)/amd64", { os: "linux", architecture: "amd64", osVersion: "+1(x)" }],
    // One component: an OS takes the host's architecture, an architecture takes the host's OS.
    ["linux", { ...host, os: "linux" }],
    ["arm64", { os: host.os, architecture: "arm64" }],
    ["aarch64", { os: host.os, architecture: "arm64" }],
    ["armhf", { os: host.os, architecture: "arm", variant: "v7" }],
    ["x86_64", { os: host.os, architecture: "amd64" }],
  ])("%s", (input, want) => {
    expect(parsePlatform(input)._unsafeUnwrap()).toStrictEqual(want);
  });

  it("gives a one-word OS its version options", () => {
    const p = parsePlatform("windows(10.0.20348)")._unsafeUnwrap();
    expect(p.os).toBe("windows");
    expect(p.osVersion).toBe("10.0.20348");
    expect(p.architecture).toBe(host.architecture);
  });

  it.each([
    ["", "empty"],
    ["*", "wildcards"],
    ["linux/*", "wildcards"],
    ["linux/arm/v7/extra", "4 components"],
    ["linux/", `"" is not a valid component`],
    ["/amd64", `"" is not a valid OS component`],
    ["linux//v7", `"" is not a valid component`],
    ["lin ux/amd64", `"lin ux" is not a valid OS component`],
    ["linux/am d64", `"am d64" is not a valid component`],
    ["linux/arm/v7!", `"v7!" is not a valid component`],
    ["windows(10.0/amd64", `"windows(10.0" is not a valid OS component`],
    ["windows(10.0%zz)/amd64", `OS version "10.0%zz" has a malformed %-escape`],
    ["windows(10+%zz)/amd64", `OS feature "%zz" has a malformed %-escape`],
    ["mystery", `"mystery" is neither a known operating system nor a known architecture`],
    ["arm64(1)", `"arm64(1)" is neither a known operating system nor a known architecture`],
  ])("rejects %j", (input, mention) => {
    const e = parsePlatform(input)._unsafeUnwrapErr();
    expect(ImageError.is(e)).toBe(true);
    expect(e.code).toBe("InvalidPlatform");
    expect(e.message).toContain(`invalid platform ${JSON.stringify(input)}`);
    expect(e.message).toContain(mention);
    expect(e.message).toContain(`e.g. "linux/amd64"`);
  });
});

describe("formatPlatform", () => {
  it.each<readonly [Platform, string]>([
    [{ os: "linux", architecture: "amd64" }, "linux/amd64"],
    [{ os: "linux", architecture: "arm", variant: "v7" }, "linux/arm/v7"],
    [{ os: "linux", architecture: "arm" }, "linux/arm"],
    [{ os: "linux", architecture: "arm64", variant: "" }, "linux/arm64"],
    [{ os: "windows", architecture: "amd64", osVersion: "10.0.17763" }, "windows(10.0.17763)/amd64"],
    [
      { os: "windows", architecture: "amd64", osVersion: "10.0.17763", osFeatures: ["win32k", "a"] },
      "windows(10.0.17763+a+win32k)/amd64",
    ],
    [{ os: "windows", architecture: "amd64", osFeatures: ["win32k"] }, "windows(+win32k)/amd64"],
    [{ os: "linux", architecture: "amd64", osVersion: "1+2(3)/4%" }, "linux(1%2B2%283%29%2F4%25)/amd64"],
    [{ os: "linux", architecture: "amd64", osVersion: "é 1" }, "linux(%C3%A9%201)/amd64"],
  ])("%j -> %s", (platform, want) => {
    expect(formatPlatform(platform)).toBe(want);
  });

  it.each<Platform>([
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm", variant: "v6" },
    { os: "linux", architecture: "arm64", variant: "v9" },
    { os: "windows", architecture: "amd64", osVersion: "10.0.17763.5820", osFeatures: ["win32k"] },
    { os: "linux", architecture: "amd64", osVersion: "odd+(ver)/x%y é" },
    { os: "freebsd", architecture: "riscv64" },
  ])("round-trips %j through parsePlatform", (platform) => {
    const normalized = normalizePlatform(platform);
    expect(parsePlatform(formatPlatform(normalized))._unsafeUnwrap()).toStrictEqual(normalized);
  });
});

describe("platformMatches", () => {
  const p = (specifier: string): Platform => parsePlatform(specifier)._unsafeUnwrap();

  it.each<readonly [Platform, Platform, boolean]>([
    [p("linux/amd64"), p("linux/amd64"), true],
    [p("linux/amd64"), { os: "linux", architecture: "x86_64" }, true],
    [p("linux/arm64"), { os: "linux", architecture: "arm64", variant: "v8" }, true],
    [{ os: "linux", architecture: "arm64", variant: "v8" }, { os: "linux", architecture: "arm64" }, true],
    [{ os: "linux", architecture: "aarch64" }, { os: "linux", architecture: "arm64", variant: "v8" }, true],
    [{ os: "linux", architecture: "arm" }, { os: "linux", architecture: "arm", variant: "v7" }, true],
    [{ os: "linux", architecture: "armhf" }, { os: "linux", architecture: "arm", variant: "v7" }, true],
    [{ os: "linux", architecture: "armel" }, { os: "linux", architecture: "arm", variant: "v6" }, true],
    [{ os: "Linux", architecture: "i386" }, { os: "linux", architecture: "386" }, true],
    [p("linux/amd64"), p("linux/arm64"), false],
    [p("linux/amd64"), p("windows/amd64"), false],
    [p("linux/arm/v7"), p("linux/arm/v6"), false],
    [p("linux/arm/v6"), p("linux/arm/v7"), false],
    [p("linux/arm64"), { os: "linux", architecture: "arm64", variant: "v9" }, false],
    [p("linux/amd64"), { os: "linux", architecture: "amd64", variant: "v3" }, false],
    // OS features: the candidate may only require features the wanted platform has.
    [p("windows(+win32k)/amd64"), p("windows/amd64"), true],
    [p("windows(+win32k)/amd64"), p("windows(+win32k)/amd64"), true],
    [p("windows/amd64"), p("windows(+win32k)/amd64"), false],
    [p("windows(+a+win32k)/amd64"), p("windows(+win32k)/amd64"), true],
    // Windows OS versions: exact build before Windows Server 2022, stable ABI from build 20348 on.
    [p("windows(10.0.17763)/amd64"), p("windows(10.0.17763.5820)/amd64"), true],
    [p("windows(10.0.17763)/amd64"), p("windows(10.0.20348)/amd64"), false],
    [p("windows(10.0.20348)/amd64"), p("windows(10.0.17763)/amd64"), false],
    [p("windows(10.0.26100)/amd64"), p("windows(10.0.20348.2582)/amd64"), true],
    [p("windows(10.0.20348)/amd64"), p("windows(10.0.26100)/amd64"), false],
    [p("windows(6.3.20348)/amd64"), p("windows(10.0.20348)/amd64"), false],
    [p("windows(10.0.17763)/amd64"), p("windows/amd64"), true],
    [p("windows/amd64"), p("windows(10.0.17763)/amd64"), true],
    [p("windows(10.0.17763)/amd64"), p("windows(garbage)/amd64"), false],
    // OS versions do not matter for other systems.
    [p("linux(5.10)/amd64"), p("linux(6.1)/amd64"), true],
  ])("wanted %j, candidate %j -> %s", (wanted, candidate, want) => {
    expect(platformMatches(wanted, candidate)).toBe(want);
  });
});

describe("host platform", () => {
  it.each<readonly [string, string, string | undefined, Platform]>([
    ["x64", "linux", undefined, { os: "linux", architecture: "amd64" }],
    ["arm64", "linux", undefined, { os: "linux", architecture: "arm64" }],
    ["arm", "linux", "7", { os: "linux", architecture: "arm", variant: "v7" }],
    ["arm", "linux", "6", { os: "linux", architecture: "arm", variant: "v6" }],
    ["arm", "linux", undefined, { os: "linux", architecture: "arm", variant: "v7" }],
    ["ia32", "win32", undefined, { os: "windows", architecture: "386" }],
    ["x64", "darwin", undefined, { os: "darwin", architecture: "amd64" }],
    ["ppc64", "linux", undefined, { os: "linux", architecture: "ppc64le" }],
    ["ppc64", "aix", undefined, { os: "aix", architecture: "ppc64" }],
    ["mipsel", "linux", undefined, { os: "linux", architecture: "mipsle" }],
    ["s390x", "linux", undefined, { os: "linux", architecture: "s390x" }],
    ["riscv64", "linux", undefined, { os: "linux", architecture: "riscv64" }],
    ["loong64", "linux", undefined, { os: "linux", architecture: "loong64" }],
    ["x64", "sunos", undefined, { os: "solaris", architecture: "amd64" }],
    ["x64", "freebsd", "7", { os: "freebsd", architecture: "amd64" }],
  ])("platformFromNode(%s, %s, %s)", (arch, platform, armVersion, want) => {
    expect(platformFromNode(arch, platform, armVersion)).toStrictEqual(want);
  });

  it("describes this process", () => {
    const fromNode = platformFromNode(process.arch, process.platform, armVersion());
    const { osVersion, ...rest } = hostPlatform();
    expect(rest).toStrictEqual(fromNode);
    // Only Windows hosts carry an OS version (their build decides which images can run).
    expect(osVersion === undefined).toBe(process.platform !== "win32");
    expect(platformMatches(hostPlatform(), hostPlatform())).toBe(true);
    if (process.platform === "linux" && process.arch === "x64") {
      expect(hostPlatform()).toStrictEqual({ os: "linux", architecture: "amd64" });
    }
  });
});

function armVersion(): string | undefined {
  const value = (process.config.variables as unknown as Record<string, unknown>).arm_version;
  return value === undefined ? undefined : String(value);
}
