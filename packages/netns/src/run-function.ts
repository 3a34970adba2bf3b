import { errAsync, okAsync, type ResultAsync } from "neverthrow";
import { NetnsError } from "./errors.js";
import { type ExecInNetnsOptions, execInNetns } from "./exec.js";

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue };

// The child: runs the function with the JSON arguments, sends console output to stderr so stdout
// carries only the JSON-encoded outcome.
const RUNNER = `
const util = require("node:util");
for (const k of ["log", "info", "debug"]) console[k] = (...a) => process.stderr.write(util.format(...a) + "\\n");
const fn = (%FN%);
Promise.resolve()
  .then(() => fn(...JSON.parse(process.argv[1])))
  .then(
    (value) => process.stdout.write(JSON.stringify({ ok: value === undefined ? null : value })),
    (e) => process.stdout.write(JSON.stringify({ error: String((e && e.message) || e) })),
  );
`;

/**
 * Runs a JavaScript function inside a network namespace, in a child Node.js process, and returns what
 * it returned (or resolved to).
 *
 * Why a child process: a namespace belongs to an OS thread (`setns(2)`), and Node runs JavaScript on
 * one thread while libuv's thread pool and V8's helper threads run the rest. Switching the main
 * thread alone leaves DNS look-ups, file I/O and new sockets to threads in the old namespace, and
 * nothing switches them safely. A child started through `nsenter --net` is entirely inside.
 *
 * The function is sent as source text: it must be self-contained (no variables from the enclosing
 * scope; `require` works, it runs as CommonJS) and its arguments and result must be JSON values.
 * Its `console.log` output goes to the child's stderr. A throw or rejection becomes `Failed`
 * carrying its message; the namespace's errors (`NotFound`, `NotANamespace`, ...), `Timeout` and
 * `Aborted` are those of {@link execInNetns}.
 *
 * @example
 * ```ts
 * const addrs = await runFunctionInNetns("task-1", () => require("node:os").networkInterfaces(), []);
 * ```
 */
export function runFunctionInNetns<A extends readonly JsonValue[], R>(
  netns: string,
  fn: (...args: A) => R | Promise<R>,
  args: A,
  options: ExecInNetnsOptions = {},
): ResultAsync<Awaited<R>, NetnsError> {
  const code = RUNNER.replace("%FN%", () => fn.toString());
  return execInNetns(netns, process.execPath, ["-e", code, JSON.stringify(args)], options).andThen((r) => {
    let outcome: { ok?: unknown; error?: string } | undefined;
    try {
      outcome = JSON.parse(r.stdout) as typeof outcome;
    } catch {
      outcome = undefined;
    }
    if (outcome && "ok" in outcome) return okAsync(outcome.ok as Awaited<R>);
    const why =
      outcome?.error ??
      `the child exited ${r.exitCode === null ? `on ${r.signal}` : `with ${r.exitCode}`}: ${r.stderr.trim().slice(-500)}`;
    return errAsync(
      new NetnsError("Failed", `the function run in network namespace ${netns} failed: ${why}`, { path: netns }),
    );
  });
}
