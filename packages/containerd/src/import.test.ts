import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chainIds, hostPlatform } from "./import.js";

describe("chainIds", () => {
  it("follows the OCI image spec: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + ' ' + DiffID(Ln))", () => {
    const a = `sha256:${"a".repeat(64)}`;
    const b = `sha256:${"b".repeat(64)}`;
    const c = `sha256:${"c".repeat(64)}`;
    const ab = `sha256:${createHash("sha256").update(`${a} ${b}`).digest("hex")}`;
    const abc = `sha256:${createHash("sha256").update(`${ab} ${c}`).digest("hex")}`;
    expect(chainIds([a, b, c])).toEqual([a, ab, abc]);
    expect(chainIds([])).toEqual([]);
  });
});

describe("hostPlatform", () => {
  it("names this host's platform in OCI terms", () => {
    const p = hostPlatform();
    expect(p.os).toBe("linux");
    expect(p.architecture).toBe(process.arch === "x64" ? "amd64" : p.architecture);
  });
});
