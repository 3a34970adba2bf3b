import { describe, expect, it } from "vitest";
import { LogShimError } from "./errors.js";

describe("LogShimError", () => {
  it("carries code, message, option, allowed and cause", () => {
    const cause = new Error("inner");
    const e = new LogShimError("InvalidOption", "--mode is wrong", {
      option: "mode",
      allowed: ["blocking", "non-blocking"],
      cause,
    });
    expect(e).toBeInstanceOf(Error);
    expect(e._tag).toBe("LogShimError");
    expect(e.name).toBe("LogShimError");
    expect(e.code).toBe("InvalidOption");
    expect(e.message).toBe("--mode is wrong");
    expect(e.option).toBe("mode");
    expect(e.allowed).toEqual(["blocking", "non-blocking"]);
    expect(e.cause).toBe(cause);
  });

  it("leaves optional fields undefined and has no cause unless given one", () => {
    const e = new LogShimError("InvalidUri", "bad");
    expect(e.option).toBeUndefined();
    expect(e.allowed).toBeUndefined();
    expect("cause" in e).toBe(false);
  });

  it("copies and freezes the allowed list", () => {
    const allowed = ["a", "b"];
    const e = new LogShimError("UnknownDriver", "x", { allowed });
    allowed.push("c");
    expect(e.allowed).toEqual(["a", "b"]);
    expect(Object.isFrozen(e.allowed)).toBe(true);
  });

  it.each([
    ["MissingOption"],
    ["InvalidOption"],
    ["ConflictingOptions"],
    ["UnknownDriver"],
    ["NotAbsolutePath"],
    ["InvalidUri"],
  ] as const)("is() recognises a %s error", (code) => {
    expect(LogShimError.is(new LogShimError(code, "m"))).toBe(true);
  });

  it("is() works on look-alikes from another package copy and rejects everything else", () => {
    expect(LogShimError.is({ _tag: "LogShimError", code: "InvalidUri" })).toBe(true);
    expect(LogShimError.is(new Error("x"))).toBe(false);
    expect(LogShimError.is({ _tag: "NetnsError" })).toBe(false);
    expect(LogShimError.is(null)).toBe(false);
    expect(LogShimError.is(undefined)).toBe(false);
    expect(LogShimError.is("LogShimError")).toBe(false);
  });
});
