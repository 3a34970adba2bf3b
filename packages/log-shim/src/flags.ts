// Internal: how typed options become pflag flags in a binary log URI, and back.
//
// containerd passes each query key and its value as two argv elements (`--key`, `value`). That is right for
// every flag except pflag *boolean* flags: pflag reads `--flag value` as `--flag` (true) followed by a
// positional argument, so `?--fluentd-async=false` would switch async ON. Those flags are written with the
// value inside the key instead (`?--fluentd-async%3Dfalse=`), which reaches the logger as the single argv
// element `--fluentd-async=false` (plus an empty positional argument, which the logger ignores).
import { err, ok, type Result } from "neverthrow";
import { LogShimError } from "./errors.js";
import { GO_BOOL_SPELLINGS, goBool } from "./go-syntax.js";
import type { LogUriArg } from "./uri.js";

/** `split`: key `--name`, value `v` (two argv elements). `joined`: key `--name=v`, empty value (one element). */
/** `T` with its readonly modifiers removed, for building an options object field by field. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export type FlagStyle = "split" | "joined";

/** One flag as it goes into the URI. */
export interface EncodedFlag {
  readonly name: string;
  readonly value: string;
  readonly style: FlagStyle;
}

/** A flag the logger reads with `pflag.String`/`Int`/`Duration`: written as `?--name=value`. */
export function splitFlag(name: string, value: string): EncodedFlag {
  return { name, value, style: "split" };
}

/** A flag the logger reads with `pflag.Bool`: written as `?--name%3Dtrue=` so pflag sees `--name=true`. */
export function boolFlag(name: string, value: boolean): EncodedFlag {
  return { name, value: String(value), style: "joined" };
}

/** Turns a flag into the URI key/value pair containerd will pass on. */
export function toUriArg(flag: EncodedFlag): LogUriArg {
  return flag.style === "split" ? [`--${flag.name}`, flag.value] : [`--${flag.name}=${flag.value}`, ""];
}

interface RawFlag {
  readonly value: string;
  readonly style: FlagStyle;
}

/** The flags of a parsed URI, read one by one; whatever is left unread at the end is reported. */
export class FlagSet {
  private readonly flags = new Map<string, RawFlag>();
  private readonly read = new Set<string>();

  private constructor() {}

  /** Reads URI arguments into flags; each key must be a long flag (`--name` or `--name=value`), at most once. */
  static fromUriArgs(args: readonly LogUriArg[]): Result<FlagSet, LogShimError> {
    const set = new FlagSet();
    for (const [key, value] of args) {
      if (!key.startsWith("--") || key.length === 2 || key[2] === "-" || key[2] === "=") {
        return err(
          new LogShimError(
            "InvalidOption",
            `log URI argument ${JSON.stringify(key.split("=")[0])} is not a long flag; the logger only takes ` +
              "--name=value flags",
            { option: key },
          ),
        );
      }
      const body = key.slice(2);
      const eq = body.indexOf("=");
      const name = eq === -1 ? body : body.slice(0, eq);
      let raw: RawFlag = { value, style: "split" };
      if (eq !== -1) {
        if (value !== "") {
          return err(
            new LogShimError(
              "InvalidOption",
              `log URI argument --${name}=... carries a value inside the key and another one after it; ` +
                "the logger would take the first and ignore the second",
              { option: name },
            ),
          );
        }
        raw = { value: body.slice(eq + 1), style: "joined" };
      }
      if (set.flags.has(name)) {
        return err(
          new LogShimError("InvalidOption", `--${name} is given twice; the logger would use whichever came last`, {
            option: name,
          }),
        );
      }
      set.flags.set(name, raw);
    }
    return ok(set);
  }

  /** The raw flag, marking it read. */
  take(name: string): RawFlag | undefined {
    const raw = this.flags.get(name);
    if (raw !== undefined) this.read.add(name);
    return raw;
  }

  /** Flags not read so far, in URI order. */
  unread(): string[] {
    return [...this.flags.keys()].filter((name) => !this.read.has(name));
  }
}

/** A required non-empty string flag. */
export function takeRequired(flags: FlagSet, name: string, hint: string): Result<string, LogShimError> {
  const raw = flags.take(name);
  if (raw === undefined) {
    return err(new LogShimError("MissingOption", `--${name} is required: ${hint}`, { option: name }));
  }
  if (raw.value === "") {
    return err(new LogShimError("InvalidOption", `--${name} must not be empty: ${hint}`, { option: name }));
  }
  return ok(raw.value);
}

/** An optional string flag the logger treats as unset when empty: an empty value reads as absent. */
export function takeOptional(flags: FlagSet, name: string): string | undefined {
  const value = flags.take(name)?.value;
  return value === "" ? undefined : value;
}

/** A string flag the logger parses with Go's `strconv.ParseBool`; empty reads as absent. */
export function takeStringBool(flags: FlagSet, name: string): Result<boolean | undefined, LogShimError> {
  const value = takeOptional(flags, name);
  if (value === undefined) return ok(undefined);
  const b = goBool(value);
  if (b === undefined) {
    return err(
      new LogShimError("InvalidOption", `--${name} ${JSON.stringify(value)} is not a boolean; use true or false`, {
        option: name,
        allowed: GO_BOOL_SPELLINGS,
      }),
    );
  }
  return ok(b);
}

/** A `pflag.Bool` flag, with the split-form pitfall detected instead of silently read as true. */
export function takePflagBool(flags: FlagSet, name: string): Result<boolean | undefined, LogShimError> {
  const raw = flags.take(name);
  if (raw === undefined) return ok(undefined);
  const b = goBool(raw.value);
  if (raw.style === "joined") {
    if (b === undefined) {
      return err(
        new LogShimError("InvalidOption", `--${name}=${raw.value} is not a boolean; use true or false`, {
          option: name,
          allowed: GO_BOOL_SPELLINGS,
        }),
      );
    }
    return ok(b);
  }
  // Split form: pflag sets the flag to true whatever follows, so only a value meaning true is unambiguous.
  if (raw.value === "" || b === true) return ok(true);
  return err(
    new LogShimError(
      "InvalidOption",
      `--${name} is a pflag boolean, so the query pair --${name}=${raw.value} reaches the logger as ` +
        `"--${name}" "${raw.value}" and turns the flag ON. Put the value inside the key instead ` +
        `(${b === false ? `?--${name}%3Dfalse=` : `?--${name}%3Dtrue= or ?--${name}%3Dfalse=`}), as ` +
        "buildShimLoggerUri does",
      { option: name },
    ),
  );
}

/** A `pflag.Int` flag, as a decimal integer (pflag also takes `0x..`; that is refused here). */
export function takeInt(flags: FlagSet, name: string): Result<number | undefined, LogShimError> {
  const raw = flags.take(name);
  if (raw === undefined) return ok(undefined);
  if (!/^[+-]?\d{1,15}$/.test(raw.value)) {
    return err(
      new LogShimError("InvalidOption", `--${name} ${JSON.stringify(raw.value)} is not a decimal integer`, {
        option: name,
      }),
    );
  }
  return ok(Number(raw.value));
}
