// Internal: value checks shared by the drivers' validators. Each returns the error, or undefined when fine, so
// validators read as a list of rules: `return first(check1, check2, ...)`.
import { LogShimError } from "./errors.js";

/** A deferred check; `undefined` means it passed. */
export type Check = () => LogShimError | undefined;

/** Runs checks in order and returns the first failure. */
export function firstFailure(...checks: readonly Check[]): LogShimError | undefined {
  for (const check of checks) {
    const problem = check();
    if (problem) return problem;
  }
  return undefined;
}

/** A required, non-empty string. */
export function requiredString(option: string, value: unknown, hint: string): LogShimError | undefined {
  if (value === undefined) {
    return new LogShimError("MissingOption", `--${option} is required: ${hint}`, { option });
  }
  if (typeof value !== "string" || value === "") {
    return new LogShimError("InvalidOption", `--${option} must be a non-empty string: ${hint}`, { option });
  }
  return undefined;
}

/** An optional string the logger treats as unset when empty: empty is refused so intent stays explicit. */
export function optionalString(option: string, value: unknown): LogShimError | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    return new LogShimError("InvalidOption", `--${option} must be a string`, { option });
  }
  if (value === "") {
    return new LogShimError(
      "InvalidOption",
      `--${option} is empty, which the logger reads as "not set"; omit the option instead`,
      { option },
    );
  }
  return undefined;
}

/** An optional boolean. */
export function optionalBoolean(option: string, value: unknown): LogShimError | undefined {
  if (value === undefined || typeof value === "boolean") return undefined;
  return new LogShimError("InvalidOption", `--${option} must be true or false`, { option, allowed: ["true", "false"] });
}

/** An optional value from a fixed set. */
export function optionalOneOf(option: string, value: unknown, allowed: readonly string[]): LogShimError | undefined {
  if (value === undefined || (typeof value === "string" && allowed.includes(value))) return undefined;
  return new LogShimError(
    "InvalidOption",
    `--${option} ${JSON.stringify(value)} is not supported; use one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
    { option, allowed },
  );
}

/** An optional integer within [min, max]. */
export function optionalInteger(option: string, value: unknown, min: number, max: number): LogShimError | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    return new LogShimError(
      "InvalidOption",
      `--${option} ${JSON.stringify(value)} must be an integer from ${min} to ${max}`,
      { option },
    );
  }
  return undefined;
}

/** An optional absolute POSIX path. */
export function optionalAbsolutePath(option: string, value: unknown, why: string): LogShimError | undefined {
  const problem = optionalString(option, value);
  if (problem || value === undefined) return problem;
  if (!(value as string).startsWith("/")) {
    return new LogShimError("NotAbsolutePath", `--${option} ${JSON.stringify(value)} is not an absolute path; ${why}`, {
      option,
    });
  }
  return undefined;
}

/** An optional absolute http(s) URL. */
export function optionalHttpUrl(option: string, value: unknown): LogShimError | undefined {
  const problem = optionalString(option, value);
  if (problem || value === undefined) return problem;
  let url: URL | undefined;
  try {
    url = new URL(value as string);
  } catch (cause) {
    return new LogShimError(
      "InvalidOption",
      `--${option} ${JSON.stringify(value)} is not a URL; write e.g. https://example.com:8088`,
      { option, cause },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return new LogShimError(
      "InvalidOption",
      `--${option} ${JSON.stringify(value)} must be an http:// or https:// URL`,
      { option, allowed: ["http", "https"] },
    );
  }
  return undefined;
}

/** An optional list the logger receives comma-separated: elements must be non-empty and comma-free. */
export function optionalCommaList(option: string, value: unknown): LogShimError | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    return new LogShimError("InvalidOption", `--${option} must be a non-empty array of names`, { option });
  }
  for (const item of value) {
    if (typeof item !== "string" || item === "" || item.includes(",")) {
      return new LogShimError(
        "InvalidOption",
        `--${option} element ${JSON.stringify(item)} must be a non-empty name without commas ` +
          `(the logger receives the list comma-separated)`,
        { option },
      );
    }
  }
  return undefined;
}

/** Splits a comma-separated flag value back into a list (the inverse of joining with ","). */
export function splitCommaList(option: string, value: string): readonly string[] | LogShimError {
  const items = value.split(",");
  if (items.some((item) => item === "")) {
    return new LogShimError(
      "InvalidOption",
      `--${option} ${JSON.stringify(value)} has an empty element; write names separated by single commas`,
      { option },
    );
  }
  return items;
}
