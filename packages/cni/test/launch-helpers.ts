// Helpers shared by the unit tests of the plugin launchers (src/launcher.test.ts, src/shell-launcher.test.ts).
import { existsSync, readFileSync } from "node:fs";
import type { LaunchRequest, SpawnOutcome } from "../src/launcher.js";

// Prints the shell's SigBlk and SigIgn lines with builtins only: a forked reader (grep) could catch the shell in the
// moment around a fork in which dash blocks every signal.
export const SIGNAL_STATE =
  'while read -r k v; do case "$k" in SigBlk:|SigIgn:) echo "$k $v";; esac; done < /proc/$$/status';

// Lists the shell's fds on one line ("0, 1, 10, 2"), with no pipeline: a shell holds the pipes of a pipeline open
// while its commands run.
export const FD_LIST = "ls -m -w 0 /proc/$$/fd";

/** The fd numbers of an {@link FD_LIST} line, sorted. */
export function fdNumbers(line: string | undefined): number[] {
  return (line ?? "")
    .split(",")
    .map(Number)
    .sort((x, y) => x - y);
}

/** A launch request for `path` with an empty environment and stdin, in this process's working directory. */
export function req(path: string, extra: Partial<LaunchRequest> = {}): LaunchRequest {
  return { path, env: {}, stdin: "", cwd: process.cwd(), ...extra };
}

/** The outcome as an exit, or a thrown error naming what it was instead. */
export function exited(outcome: SpawnOutcome) {
  if (outcome.kind !== "exited") throw new Error(`expected an exit, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** Polls `check` every 10 ms for up to 5 s. */
export async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits for a pid file a fake plugin writes and returns the pid, remembered in `leftovers` for the clean-up. */
export async function pidFrom(file: string, leftovers: number[]): Promise<number> {
  await waitFor(() => existsSync(file) && readFileSync(file, "utf8").endsWith("\n"), file);
  const pid = Number(readFileSync(file, "utf8").trim());
  leftovers.push(pid);
  return pid;
}
