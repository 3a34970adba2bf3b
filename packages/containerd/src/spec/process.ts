import { posix } from "node:path";
import { err, ok, type Result } from "neverthrow";
import { ContainerdError } from "../errors.js";
import { mergeEnv } from "./options.js";
import type { ConsoleSize, Spec, SpecProcess, SpecUser } from "./types.js";
import { MAX_ID } from "./user.js";

function invalidSpec(message: string): ContainerdError {
  return new ContainerdError("InvalidArgument", `invalid runtime spec: ${message}`, { resource: "runtime spec" });
}

function checkUser(where: string, user: SpecUser): string | undefined {
  for (const [name, v] of [
    ["uid", user.uid],
    ["gid", user.gid],
    ...(user.additionalGids ?? []).map((g) => ["additionalGids[]", g] as const),
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v > MAX_ID)
      return `${where}.user.${name} ${String(v)} is not in 0..${MAX_ID}`;
  }
  return undefined;
}

/**
 * Checks what runc would otherwise reject at task start, so a bad spec fails when the container is
 * created, with a clear message: a process with args and an absolute cwd, ids in range, a root
 * path, absolute mount destinations, no namespace type twice, and a hostname only with a private
 * UTS namespace. Returns the spec unchanged when it passes.
 */
export function validateSpec(spec: Spec): Result<Spec, ContainerdError> {
  if (typeof spec.ociVersion !== "string" || !spec.ociVersion.startsWith("1.")) {
    return err(invalidSpec(`ociVersion ${JSON.stringify(spec.ociVersion)} is not a runtime-spec 1.x version`));
  }
  const p = spec.process;
  if (p === undefined) return err(invalidSpec("there is no process: set one with withArgs or withImageConfig"));
  if (!p.args || p.args.length === 0 || p.args[0] === "") {
    return err(invalidSpec("process.args is empty: set the program with withArgs or withImageConfig"));
  }
  if (!posix.isAbsolute(p.cwd)) return err(invalidSpec(`process.cwd ${JSON.stringify(p.cwd)} is not absolute`));
  const badUser = checkUser("process", p.user);
  if (badUser) return err(invalidSpec(badUser));
  if (!spec.root || spec.root.path === "") return err(invalidSpec("root.path is empty"));
  const badMount = (spec.mounts ?? []).find((m) => !posix.isAbsolute(m.destination));
  if (badMount) return err(invalidSpec(`mount destination ${JSON.stringify(badMount.destination)} is not absolute`));
  const seen = new Set<string>();
  for (const ns of spec.linux?.namespaces ?? []) {
    if (seen.has(ns.type)) return err(invalidSpec(`namespace ${ns.type} is listed twice`));
    seen.add(ns.type);
  }
  if (spec.hostname && !(spec.linux?.namespaces ?? []).some((n) => n.type === "uts" && n.path === undefined)) {
    return err(invalidSpec("a hostname is set but the container has no private UTS namespace"));
  }
  return ok(spec);
}

/** What an exec changes relative to the container's own process. */
export interface ExecProcessOptions {
  /** The program and its arguments. */
  readonly args: readonly string[];
  /** Environment entries merged onto the container's (`KEY=value` replaces, bare `KEY` unsets). */
  readonly env?: readonly string[];
  /** Working directory (absolute); the container's by default. */
  readonly cwd?: string;
  /** Give the exec a pseudo-terminal (sets `TERM=xterm`, like {@link withTty}). */
  readonly terminal?: boolean;
  /** Initial terminal size. */
  readonly consoleSize?: ConsoleSize;
  /** Numeric identity for the exec; the container's by default (resolve names with {@link resolveUser}). */
  readonly user?: SpecUser;
}

/**
 * The process spec of an exec into a running container, as `ctr task exec` derives it: the
 * container's process (capabilities, rlimits, no-new-privileges, AppArmor, env, user) with new args
 * and the given changes. Pack it with {@link processAny} for `Tasks.Exec`.
 */
export function execProcess(spec: Spec, options: ExecProcessOptions): Result<SpecProcess, ContainerdError> {
  const base = spec.process;
  if (base === undefined) return err(invalidSpec("the container spec has no process to derive the exec from"));
  if (options.args.length === 0 || options.args[0] === "") {
    return err(
      new ContainerdError("InvalidArgument", "an exec needs at least the program to run", { resource: "exec" }),
    );
  }
  if (options.cwd !== undefined && !posix.isAbsolute(options.cwd)) {
    return err(
      new ContainerdError("InvalidArgument", `exec cwd ${JSON.stringify(options.cwd)} is not absolute`, {
        resource: "exec",
      }),
    );
  }
  const process: SpecProcess = structuredClone(base);
  process.args = [...options.args];
  if (options.cwd !== undefined) process.cwd = options.cwd;
  if (options.user !== undefined) {
    const bad = checkUser("exec", options.user);
    if (bad) return err(new ContainerdError("InvalidArgument", bad, { resource: "exec" }));
    process.user = structuredClone(options.user);
  }
  let env = process.env ?? [];
  if (options.env !== undefined) env = mergeEnv(env, options.env);
  if (options.terminal === true) {
    process.terminal = true;
    env = mergeEnv(env, ["TERM=xterm"]);
    if (options.consoleSize) process.consoleSize = { ...options.consoleSize };
  } else {
    delete process.terminal;
    delete process.consoleSize;
  }
  if (env.length > 0 || process.env !== undefined) process.env = env;
  return ok(process);
}
