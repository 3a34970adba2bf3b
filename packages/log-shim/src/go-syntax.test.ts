import { describe, expect, it } from "vitest";
import { GO_BOOL_SPELLINGS, goBool, parseByteSize, parseGoDuration } from "./go-syntax.js";

describe("parseGoDuration (Go's time.ParseDuration)", () => {
  it.each<[string, bigint]>([
    ["0", 0n],
    ["-0", 0n],
    ["+0", 0n],
    ["5s", 5_000_000_000n],
    ["+5s", 5_000_000_000n],
    ["-5s", -5_000_000_000n],
    ["1m30s", 90_000_000_000n],
    ["1.5h", 5_400_000_000_000n],
    [".5s", 500_000_000n],
    ["1.s", 1_000_000_000n],
    ["300ms", 300_000_000n],
    ["2us", 2_000n],
    ["2µs", 2_000n],
    ["2μs", 2_000n],
    ["7ns", 7n],
    ["1h2m3s4ms5us6ns", 3_723_004_005_006n],
    ["0s", 0n],
    ["0.000000001s", 1n],
    ["0.0000000019s", 1n],
    ["12s", 12_000_000_000n],
    ["9223372036854775807ns", 9_223_372_036_854_775_807n],
    ["-9223372036854775808ns", -9_223_372_036_854_775_808n],
    ["2562047h", 9_223_369_200_000_000_000n],
  ])("reads %s", (input, ns) => {
    expect(parseGoDuration(input)._unsafeUnwrap()).toBe(ns);
  });

  it.each([
    ["", "empty"],
    ["-", "empty"],
    ["1", "unit is missing"],
    ["00", "unit is missing"],
    ["5", "unit is missing"],
    ["s", "number is missing"],
    [".s", "number is missing"],
    ["1x", 'unknown unit "x"'],
    ["1S", 'unknown unit "S"'],
    ["1 s", 'unknown unit " s"'],
    [" 1s", "number is missing"],
    ["1.2.3s", "unit is missing"],
    ["--1s", "number is missing"],
    ["1e3s", 'unknown unit "e"'],
    ["9223372036854775808ns", "overflows"],
    ["2562048h", "overflows"],
    ["99999999999999999999s", "overflows"],
  ])("refuses %j (%s)", (input, why) => {
    const e = parseGoDuration(input, "cleanup-time")._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe("cleanup-time");
    expect(e.message).toContain(why);
    expect(e.message).toContain('"5s"');
  });
});

describe("parseByteSize (docker/go-units)", () => {
  it.each<[string, "binary" | "decimal", number]>([
    ["0", "binary", 0],
    ["200", "binary", 200],
    ["4k", "binary", 4096],
    ["1m", "binary", 1_048_576],
    ["10m", "binary", 10_485_760],
    ["1M", "binary", 1_048_576],
    ["1MB", "binary", 1_048_576],
    ["1MiB", "binary", 1_048_576],
    ["1mib", "binary", 1_048_576],
    ["1g", "binary", 1_073_741_824],
    ["1t", "binary", 1_099_511_627_776],
    ["1p", "binary", 1_125_899_906_842_624],
    ["1.5k", "binary", 1536],
    [".5k", "binary", 512],
    ["5.", "binary", 5],
    ["1.9", "binary", 1],
    ["10 m", "binary", 10_485_760],
    ["1b", "binary", 1],
    ["1B", "binary", 1],
    ["10m", "decimal", 10_000_000],
    ["1KiB", "decimal", 1000],
    ["2kb", "decimal", 2000],
    ["1.5g", "decimal", 1_500_000_000],
  ])("reads %s (%s) as %d bytes", (input, units, bytes) => {
    expect(parseByteSize(input, units)._unsafeUnwrap()).toBe(bytes);
  });

  it.each([
    ["", "expected a non-negative number"],
    ["k", "expected a non-negative number"],
    ["-1", "expected a non-negative number"],
    ["1e3", "expected a non-negative number"],
    ["0x10", "expected a non-negative number"],
    ["1_000", "expected a non-negative number"],
    ["1x", 'unknown unit "x"'],
    ["1kbb", 'unknown unit "kbb"'],
    ["1ki", 'unknown unit "ki"'],
    ["1ib", 'unknown unit "ib"'],
    ["1bk", 'unknown unit "bk"'],
    ["1  m", "expected a non-negative number"],
    ["1kibs", "expected a non-negative number"],
    ["99999999p", "too large"],
  ])("refuses %j (%s)", (input, why) => {
    const e = parseByteSize(input, "binary", "max-buffer-size")._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe("max-buffer-size");
    expect(e.message).toContain(why);
  });
});

describe("goBool (Go's strconv.ParseBool)", () => {
  it.each(["1", "t", "T", "TRUE", "true", "True"])("reads %s as true", (s) => expect(goBool(s)).toBe(true));
  it.each(["0", "f", "F", "FALSE", "false", "False"])("reads %s as false", (s) => expect(goBool(s)).toBe(false));
  it.each(["", "yes", "no", "tRUE", "on", " true"])("does not read %j", (s) => expect(goBool(s)).toBeUndefined());
  it("lists the twelve spellings", () => expect(GO_BOOL_SPELLINGS).toHaveLength(12));
});
