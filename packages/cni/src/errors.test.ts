import { describe, expect, it } from "vitest";
import { CniError, type CniErrorCode, cniErrorFromPlugin, codeOfCniCode } from "./errors.js";

describe("codeOfCniCode", () => {
  it.each<[number, CniErrorCode]>([
    [1, "IncompatibleVersion"],
    [2, "UnsupportedField"],
    [3, "UnknownContainer"],
    [4, "InvalidEnvironment"],
    [5, "IOFailure"],
    [6, "DecodeFailure"],
    [7, "InvalidConfig"],
    [11, "TryAgainLater"],
    [50, "PluginNotAvailable"],
    [51, "LimitedConnectivity"],
    [100, "PluginSpecific"],
    [999, "PluginSpecific"],
    [0, "PluginFailed"],
    [8, "PluginFailed"],
    [10, "PluginFailed"],
    [99, "PluginFailed"],
  ])("%d -> %s", (n, code) => {
    expect(codeOfCniCode(n)).toBe(code);
  });
});

describe("cniErrorFromPlugin", () => {
  it("maps a well-known code and keeps msg, details and context", () => {
    const body = { cniVersion: "1.0.0", code: 7, msg: "bad config", details: "missing ipam" };
    const e = cniErrorFromPlugin(body, { plugin: "bridge", network: "net1", command: "ADD" });
    expect(e).toBeInstanceOf(CniError);
    expect(e).toMatchObject({
      _tag: "CniError",
      code: "InvalidConfig",
      cniCode: 7,
      plugin: "bridge",
      network: "net1",
      pluginMessage: "bad config",
      details: "missing ipam",
    });
    expect(e.cause).toBe(body);
    expect(e.message).toContain('CNI plugin "bridge" (ADD) failed (code 7, InvalidConfig): bad config; missing ipam');
  });

  it("keeps a plugin-specific code", () => {
    const e = cniErrorFromPlugin({ code: 142, msg: "vlan busy" }, { plugin: "vpc-branch-eni" });
    expect(e.code).toBe("PluginSpecific");
    expect(e.cniCode).toBe(142);
    expect(e.message).toContain("code 142");
  });

  it("marks TryAgainLater retryable and nothing else", () => {
    expect(cniErrorFromPlugin({ code: 11, msg: "busy" }).retryable).toBe(true);
    expect(cniErrorFromPlugin({ code: 7, msg: "x" }).retryable).toBe(false);
  });

  it("appends stderr to the details", () => {
    const e = cniErrorFromPlugin({ code: 5, msg: "io", details: "disk" }, { stderr: "  trace\n" });
    expect(e.details).toBe("disk; stderr: trace");
  });

  it.each([
    ["a non-object", "garbage text"],
    ["an object without code", { msg: "no code" }],
    ["a string code", { code: "7", msg: "x" }],
    ["a fractional code", { code: 7.5, msg: "x" }],
    ["null", null],
  ])("turns %s into PluginFailed carrying the text", (_label, body) => {
    const e = cniErrorFromPlugin(body, { plugin: "p" });
    expect(e.code).toBe("PluginFailed");
    expect(e.cniCode).toBeUndefined();
    expect(e.message).toContain("not a CNI error object");
    expect(e.details).toContain("output:");
  });

  it("keeps code 0 as PluginFailed with the number", () => {
    const e = cniErrorFromPlugin({ code: 0, msg: "generic" });
    expect(e).toMatchObject({ code: "PluginFailed", cniCode: 0, pluginMessage: "generic" });
  });
});

describe("CniError.is", () => {
  it("recognises the tag, not look-alikes", () => {
    expect(CniError.is(new CniError("Timeout", "t"))).toBe(true);
    expect(CniError.is({ _tag: "CniError" })).toBe(true);
    expect(CniError.is(new Error("x"))).toBe(false);
    expect(CniError.is(null)).toBe(false);
    expect(CniError.is("CniError")).toBe(false);
  });

  it("passes the cause to Error", () => {
    const cause = new Error("root");
    expect(new CniError("IOFailure", "x", { cause }).cause).toBe(cause);
    expect("cause" in new CniError("IOFailure", "x")).toBe(false);
  });
});
