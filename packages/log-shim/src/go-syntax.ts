import { err, ok, type Result } from "neverthrow";
import { LogShimError } from "./errors.js";

/**
 * A duration as Go's `time.ParseDuration` reads it: a sequence of decimal numbers with units, e.g. `"5s"`,
 * `"1m30s"`, `"1.5h"`, `"300ms"`, or `"0"`. Units: `ns`, `us` (or `µs`/`μs`), `ms`, `s`, `m`, `h`.
 */
export type GoDuration = string;

/**
 * A byte size as the logger's size parser (`github.com/docker/go-units`) reads it: a non-negative decimal number
 * with an optional unit, e.g. `"200"`, `"4k"`, `"1m"`, `"1.5MiB"`, `"10 MB"`. Units are case-insensitive: `b`, and
 * `k`/`m`/`g`/`t`/`p` optionally followed by `b` or `ib`. Whether `k` means 1000 or 1024 depends on the option:
 * see {@link SizeUnits}.
 */
export type ByteSize = string;

/**
 * How a {@link ByteSize}'s unit letters are read.
 *
 * - `binary` (go-units `RAMInBytes`): k = 1024, m = 1024², ...; used for `--max-buffer-size` (so `"1m"` is 1 MiB).
 * - `decimal` (go-units `FromHumanSize`): k = 1000, m = 1000², ...; used for json-file's `--max-size`
 *   (so `"10m"` is 10 000 000 bytes).
 *
 * The suffix spelling does not change the base: `"1MB"` and `"1MiB"` are both 1 MiB in `binary` mode.
 */
export type SizeUnits = "binary" | "decimal";

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek small letter mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_INT64 = (1n << 63n) - 1n;

function badDuration(option: string, value: string, why: string): LogShimError {
  return new LogShimError(
    "InvalidOption",
    `${option} ${JSON.stringify(value)} is not a Go duration (${why}); write e.g. "5s", "1m30s" or "250ms"`,
    { option },
  );
}

/**
 * Parses a duration exactly as Go's `time.ParseDuration` accepts it (same grammar, signs, units, overflow
 * limit) and returns it in nanoseconds. `option` names the flag in the error message.
 *
 * The one difference: fractions are computed exactly, where Go goes through float64; results can differ by a
 * nanosecond for fractions with many digits.
 */
export function parseGoDuration(value: string, option = "duration"): Result<bigint, LogShimError> {
  let s = value;
  let negative = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    negative = s.startsWith("-");
    s = s.slice(1);
  }
  if (s === "0") return ok(0n);
  if (s === "") return err(badDuration(option, value, "it is empty"));
  let total = 0n;
  while (s !== "") {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s) as RegExpExecArray;
    const whole = m[1] as string;
    const fraction = m[2];
    if (whole === "" && (fraction === undefined || fraction === "")) {
      return err(badDuration(option, value, "a number is missing"));
    }
    s = s.slice(m[0].length);
    const unitMatch = /^[^0-9.]+/.exec(s);
    if (!unitMatch) return err(badDuration(option, value, "a unit is missing after a number"));
    const unitName = unitMatch[0];
    const unit = NS_PER_UNIT[unitName];
    if (unit === undefined) return err(badDuration(option, value, `unknown unit ${JSON.stringify(unitName)}`));
    s = s.slice(unitName.length);
    let amount = BigInt(whole === "" ? "0" : whole) * unit;
    if (fraction !== undefined && fraction !== "") {
      amount += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length);
    }
    total += amount;
    if (total > 1n << 63n) return err(badDuration(option, value, "it overflows 64-bit nanoseconds"));
  }
  if (!negative && total > MAX_INT64) return err(badDuration(option, value, "it overflows 64-bit nanoseconds"));
  return ok(negative ? -total : total);
}

const SIZE = /^(\d+(?:\.\d*)?|\.\d+) ?([A-Za-z]{0,3})$/;
const UNIT_POWER: Readonly<Record<string, number>> = { k: 1, m: 2, g: 3, t: 4, p: 5 };

/**
 * Parses a {@link ByteSize} the way the logger does (go-units v0.5 `RAMInBytes` for `binary`, `FromHumanSize` for
 * `decimal`) and returns the number of bytes (fractions truncated, as Go's `int64(float)` does).
 *
 * Deliberately stricter than go-units: Go float syntax beyond plain decimals (`1e3`, `0x1p4`, `1_000`) is refused,
 * and so is a size above `Number.MAX_SAFE_INTEGER`.
 */
export function parseByteSize(value: string, units: SizeUnits, option = "size"): Result<number, LogShimError> {
  const fail = (why: string) =>
    err(
      new LogShimError(
        "InvalidOption",
        `${option} ${JSON.stringify(value)} is not a size (${why}); write e.g. "200", "4k", "1m" or "10MiB"`,
        { option },
      ),
    );
  const m = SIZE.exec(value);
  if (!m) return fail("expected a non-negative number with an optional unit");
  const suffix = (m[2] as string).toLowerCase();
  let multiplier = 1;
  if (suffix !== "" && suffix !== "b") {
    const power = UNIT_POWER[suffix[0] as string];
    const tail = suffix.slice(1);
    if (power === undefined || !(tail === "" || tail === "b" || tail === "ib")) {
      return fail(`unknown unit ${JSON.stringify(m[2])}`);
    }
    multiplier = (units === "binary" ? 1024 : 1000) ** power;
  }
  const bytes = Math.trunc(Number(m[1]) * multiplier);
  if (!Number.isSafeInteger(bytes)) return fail("it is too large");
  return ok(bytes);
}

const GO_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const GO_FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** The spellings Go's `strconv.ParseBool` accepts. */
export const GO_BOOL_SPELLINGS: readonly string[] = [...GO_TRUE, ...GO_FALSE];

/** Reads a boolean as Go's `strconv.ParseBool` does; `undefined` when the spelling is not one Go accepts. */
export function goBool(value: string): boolean | undefined {
  if (GO_TRUE.has(value)) return true;
  if (GO_FALSE.has(value)) return false;
  return undefined;
}
