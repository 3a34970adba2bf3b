import { describe, expect, it } from "vitest";
import {
  boolFlag,
  FlagSet,
  splitFlag,
  takeInt,
  takeOptional,
  takePflagBool,
  takeRequired,
  takeStringBool,
  toUriArg,
} from "./flags.js";
import type { LogUriArg } from "./uri.js";

const flagsOf = (...args: LogUriArg[]) => FlagSet.fromUriArgs(args)._unsafeUnwrap();

describe("toUriArg", () => {
  it("writes ordinary flags as key and value (two argv elements)", () => {
    expect(toUriArg(splitFlag("mode", "non-blocking"))).toEqual(["--mode", "non-blocking"]);
  });
  it("writes pflag booleans with the value inside the key (one argv element)", () => {
    expect(toUriArg(boolFlag("fluentd-async", false))).toEqual(["--fluentd-async=false", ""]);
    expect(toUriArg(boolFlag("verbose", true))).toEqual(["--verbose=true", ""]);
  });
});

describe("FlagSet.fromUriArgs", () => {
  it("reads split and joined forms and reports unread flags in order", () => {
    const flags = flagsOf(["--a", "1"], ["--b=2", ""], ["--c", ""]);
    expect(flags.take("b")).toEqual({ value: "2", style: "joined" });
    expect(flags.take("a")).toEqual({ value: "1", style: "split" });
    expect(flags.take("zzz")).toBeUndefined();
    expect(flags.unread()).toEqual(["c"]);
  });

  it("keeps '=' inside a joined value", () => {
    expect(flagsOf(["--tag=a=b", ""]).take("tag")).toEqual({ value: "a=b", style: "joined" });
  });

  it.each([["log-driver"], ["-v"], ["--"], ["---x"], ["--=x"], ["x--y"]])("refuses the non-flag key %j", (key) => {
    const e = FlagSet.fromUriArgs([[key, "v"]])._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.message).toContain("not a long flag");
  });

  it("refuses a joined key that also has a value", () => {
    const e = FlagSet.fromUriArgs([["--mode=blocking", "non-blocking"]])._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe("mode");
  });

  it("refuses the same flag twice, even in different forms", () => {
    const e = FlagSet.fromUriArgs([
      ["--mode", "blocking"],
      ["--mode=non-blocking", ""],
    ])._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.message).toContain("twice");
  });
});

describe("flag readers", () => {
  it("takeRequired: missing, empty, present", () => {
    expect(takeRequired(flagsOf(), "container-id", "hint")._unsafeUnwrapErr().code).toBe("MissingOption");
    const empty = takeRequired(flagsOf(["--container-id", ""]), "container-id", "hint")._unsafeUnwrapErr();
    expect(empty.code).toBe("InvalidOption");
    expect(takeRequired(flagsOf(["--container-id", "c1"]), "container-id", "hint")._unsafeUnwrap()).toBe("c1");
  });

  it("takeOptional reads an empty value as absent", () => {
    expect(takeOptional(flagsOf(["--x", ""]), "x")).toBeUndefined();
    expect(takeOptional(flagsOf(["--x", "v"]), "x")).toBe("v");
    expect(takeOptional(flagsOf(), "x")).toBeUndefined();
  });

  it.each<[LogUriArg, boolean | undefined]>([
    [["--c", "true"], true],
    [["--c", "T"], true],
    [["--c", "1"], true],
    [["--c", "False"], false],
    [["--c", "0"], false],
    [["--c", ""], undefined],
    [["--c=f", ""], false],
  ])("takeStringBool reads %j as %s", (arg, expected) => {
    expect(takeStringBool(flagsOf(arg), "c")._unsafeUnwrap()).toBe(expected);
  });

  it("takeStringBool refuses other spellings and lists Go's", () => {
    const e = takeStringBool(flagsOf(["--c", "yes"]), "c")._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.allowed).toContain("TRUE");
  });

  it.each<[LogUriArg, boolean]>([
    [["--b=true", ""], true],
    [["--b=false", ""], false],
    [["--b=0", ""], false],
    [["--b=T", ""], true],
    [["--b", ""], true],
    [["--b", "true"], true],
    [["--b", "1"], true],
  ])("takePflagBool reads %j as %s", (arg, expected) => {
    expect(takePflagBool(flagsOf(arg), "b")._unsafeUnwrap()).toBe(expected);
  });

  it.each([["false"], ["0"], ["F"], ["maybe"]])(
    "takePflagBool refuses the split form with %j, which pflag would read as true",
    (value) => {
      const e = takePflagBool(flagsOf(["--fluentd-async", value]), "fluentd-async")._unsafeUnwrapErr();
      expect(e.code).toBe("InvalidOption");
      expect(e.option).toBe("fluentd-async");
      expect(e.message).toContain("turns the flag ON");
      expect(e.message).toContain("%3D");
    },
  );

  it("takePflagBool refuses a joined value that is not a boolean", () => {
    expect(takePflagBool(flagsOf(["--b=maybe", ""]), "b")._unsafeUnwrapErr().allowed).toContain("false");
    expect(takePflagBool(flagsOf(), "b")._unsafeUnwrap()).toBeUndefined();
  });

  it.each<[string, number]>([
    ["5", 5],
    ["-1", -1],
    ["+7", 7],
    ["0", 0],
  ])("takeInt reads %j", (value, expected) => {
    expect(takeInt(flagsOf(["--uid", value]), "uid")._unsafeUnwrap()).toBe(expected);
  });

  it.each([[""], ["0x10"], ["1.5"], ["ten"], ["1234567890123456"]])("takeInt refuses %j", (value) => {
    expect(takeInt(flagsOf(["--uid", value]), "uid")._unsafeUnwrapErr().code).toBe("InvalidOption");
  });
});
