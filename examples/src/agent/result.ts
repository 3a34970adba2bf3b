import type { AgentError } from "./errors.js";

// The examples package has no neverthrow dependency (only berth's packages), so the agent returns this
// small discriminated union instead: check `ok`, then read `value` or `error`.

/** The outcome of a fallible agent operation. */
export type AgentResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: AgentError };

/** A success. */
export function ok<T>(value: T): AgentResult<T> {
  return { ok: true, value };
}

/** A failure. */
export function err<T = never>(error: AgentError): AgentResult<T> {
  return { ok: false, error };
}
