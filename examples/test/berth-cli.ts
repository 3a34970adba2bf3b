// Runs the CLI the way a user does (`pnpm berth ...` from the repository root), for the CLI integration tests.
import { execFile } from "node:child_process";
import { resolve } from "node:path";

/** The repository root, where `pnpm berth` is defined. */
export const REPO_ROOT = resolve(import.meta.dirname, "../..");

/** How one CLI run ended. */
export interface CliOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `pnpm --silent berth ARGS...`, writing `input` (or nothing) to its stdin, and collects its output. */
export function runBerth(args: readonly string[], input?: string): Promise<CliOutcome> {
  return new Promise((done) => {
    const child = execFile(
      "pnpm",
      ["--silent", "berth", ...args],
      { cwd: REPO_ROOT, encoding: "utf8" },
      (error, stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}
