// What the containerd-target integration tests share: ctr runs against a stack daemon, Result unwrapping, and the
// cleanup that empties and removes a test's containerd namespace.
import { execFileSync } from "node:child_process";
import type { StackDaemon } from "@berth/testkit";
import type { Result } from "neverthrow";

/** Runs the stack's `ctr` for `daemon` in namespace `ns`; a failure throws with ctr's stderr. */
export function ctr(daemon: StackDaemon, ns: string, ...args: string[]): string {
  try {
    return execFileSync(daemon.ctr, ["-a", daemon.address, "-n", ns, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? "";
    throw new Error(`ctr ${args.join(" ")} failed: ${stderr.trim() || (e as Error).message}`);
  }
}

/** The value of an Ok result; an Err fails the test with its message. */
export function must<T>(r: Result<T, { message: string; code: string }>): T {
  if (r.isErr()) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

/** The non-empty trimmed lines of `text`. */
export function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** Removes everything in `ns` (images, leases, containers, snapshots, content, ingests) and the namespace itself. */
export function removeNamespace(daemon: StackDaemon, ns: string): void {
  const quiet = (...args: string[]) => {
    try {
      return ctr(daemon, ns, ...args);
    } catch {
      return "";
    }
  };
  for (const c of lines(quiet("containers", "ls", "-q"))) {
    quiet("tasks", "kill", "-s", "SIGKILL", c);
    quiet("tasks", "rm", "-f", c);
    quiet("containers", "rm", c);
  }
  for (const i of lines(quiet("images", "ls", "-q"))) quiet("images", "rm", "--sync", i);
  for (const l of lines(quiet("leases", "ls", "-q"))) quiet("leases", "rm", "--sync", l);
  for (const r of lines(quiet("content", "active")).slice(1)) quiet("content", "rm", r.split(/\s+/)[0] ?? "");
  for (let round = 0; round < 10; round++) {
    const snaps = lines(quiet("snapshots", "ls")).slice(1);
    if (snaps.length === 0) break;
    for (const line of snaps) quiet("snapshots", "rm", line.split(/\s+/)[0] ?? "");
  }
  const blobs = lines(quiet("content", "ls", "-q"));
  if (blobs.length > 0) quiet("content", "rm", ...blobs);
  quiet("namespaces", "rm", ns);
}
